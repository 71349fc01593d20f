"""The optional CloudFront distribution: private bucket behind OAC, Authorization never forwarded,
long TTLs for bottles and blobs, short ones for what each run rewrites."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from tests.contract.test_template import _overrides

CDN_RESOURCES = ("MirrorOriginAccessControl", "MirrorImmutableCachePolicy",
                 "MirrorMetadataCachePolicy", "MirrorDistribution")
YEAR = 365 * 86400


def _config(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"]["MirrorDistribution"]["Properties"]["DistributionConfig"])


def _policy(template: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    return dict(template["Resources"][ref["Ref"]]["Properties"]["CachePolicyConfig"])


def test_cdn_is_optional_per_environment(template: dict[str, Any]) -> None:
    """GIVEN EnableCdn THEN every CDN resource and the URL output hang on it; prod turns it on."""
    assert template["Parameters"]["EnableCdn"]["Default"] == "false"
    assert template["Conditions"]["CdnEnabled"] == {"Fn::Equals": [{"Ref": "EnableCdn"}, "true"]}
    for name in CDN_RESOURCES:
        assert template["Resources"][name]["Condition"] == "CdnEnabled", name
    output = template["Outputs"]["MirrorUrl"]
    assert output["Condition"] == "CdnEnabled"
    assert output["Value"] == {"Fn::Sub": "https://${MirrorDistribution.DomainName}"}
    assert _overrides("prod")["EnableCdn"] == "true"
    assert _overrides("dev").get("EnableCdn", "false") == "false"


def test_distribution_reads_the_private_bucket_through_oac(template: dict[str, Any]) -> None:
    """GIVEN the distribution THEN its one origin is the bucket, signed by OAC (no OAI, no
    website endpoint), over https only, GET and HEAD only."""
    oac = template["Resources"]["MirrorOriginAccessControl"]["Properties"][
        "OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"],
            oac["SigningProtocol"]) == ("s3", "always", "sigv4")
    config = _config(template)
    [origin] = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["MirrorBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["MirrorOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    for behavior in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert behavior["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
        assert behavior["AllowedMethods"] == ["GET", "HEAD"]
        assert "ForwardedValues" not in behavior and "OriginRequestPolicyId" not in behavior
    public = template["Resources"]["MirrorBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(public.values())


@pytest.mark.parametrize("name", ["MirrorImmutableCachePolicy", "MirrorMetadataCachePolicy"])
def test_cache_policies_ignore_authorization(template: dict[str, Any], name: str) -> None:
    """GIVEN brew's `Authorization: Bearer QQ==` THEN no policy forwards a header, cookie or query
    (S3 answers a Bearer header with 400; OAC signs instead)."""
    keyed = template["Resources"][name]["Properties"]["CachePolicyConfig"][
        "ParametersInCacheKeyAndForwardedToOrigin"]
    assert keyed["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert keyed["CookiesConfig"] == {"CookieBehavior": "none"}
    assert keyed["QueryStringsConfig"] == {"QueryStringBehavior": "none"}


def _behavior_for(config: dict[str, Any], path: str) -> dict[str, Any]:
    """CloudFront's choice: the first behavior whose pattern (* and ?) matches, else default."""
    for behavior in config["CacheBehaviors"]:
        if re.fullmatch(fnmatch.translate(behavior["PathPattern"]), path):
            return dict(behavior)
    return dict(config["DefaultCacheBehavior"])


@pytest.mark.parametrize(("path", "long"), [
    ("bottles/wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz", True),
    ("bottles/openssl@3-3.4.0.arm64_sequoia.bottle.tar.gz", True),
    ("v2/homebrew/core/openssl/3/blobs/sha256:" + "a" * 64, True),
    ("2026-12-01/wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz", True),
    ("bottles/openssl/3/manifests/3.4.0", False),
    ("v2/homebrew/core/openssl/3/manifests/3.4.0", False),
    ("2026-12-01/wget/manifests/1.25.0_1-1", False),
    ("api/formula.jws.json", False),
    ("api/internal/packages.arm64_sequoia.jws.json", False),
    ("api/formula/openssl@3.json", False),
    ("bottles_hash.json", False),
    ("status.json", False),
    ("index.html", False),
])
def test_ttls_by_path(template: dict[str, Any], path: str, long: bool) -> None:
    """GIVEN a mirror key THEN bottles and blobs are cached a year, everything a run rewrites
    (API files, indexes, the manifest, the status page) at most five minutes."""
    policy = _policy(template, _behavior_for(_config(template), path)["CachePolicyId"])
    if long:
        assert policy["DefaultTTL"] >= YEAR and policy["MinTTL"] >= 86400
    else:
        assert policy["MaxTTL"] <= 300 and policy["MinTTL"] == 0


def test_bucket_policy_allows_only_the_distribution(template: dict[str, Any]) -> None:
    """GIVEN the bucket policy THEN its only Allow is CloudFront's service principal, scoped to
    this distribution's ARN, read-only, and only when the CDN is on."""
    statements = template["Resources"]["MirrorBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"]
    conditional = [s for s in statements if "Fn::If" in s]
    assert len(conditional) == 1
    condition, allow, otherwise = conditional[0]["Fn::If"]
    assert (condition, otherwise) == ("CdnEnabled", {"Ref": "AWS::NoValue"})
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert sorted(allow["Action"]) == ["s3:GetObject", "s3:ListBucket"]
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${MirrorDistribution}")
    assert [s["Effect"] for s in statements if "Fn::If" not in s] == ["Deny"] * (
        len(statements) - 1)


def test_sam_translates_the_cdn(translated: dict[str, Any]) -> None:
    """GIVEN SAM's translation THEN the CDN resources are plain CloudFormation, conditioned."""
    for name in CDN_RESOURCES:
        assert translated[name]["Condition"] == "CdnEnabled"
    assert translated["MirrorDistribution"]["Type"] == "AWS::CloudFront::Distribution"
