#!/usr/bin/env bash
# Wait for ECR's scan (scan on push) of <repository>@<digest> and fail on any CRITICAL finding.
set -euo pipefail
uri="${1:?repository@sha256:digest}"
repo="${uri%@*}" digest="${uri#*@}"
registry="${repo%%/*}" name="${repo#*/}"
region="$(cut -d. -f4 <<<"$registry")"
image=(--region "$region" --repository-name "$name" --image-id "imageDigest=$digest")
aws ecr wait image-scan-complete "${image[@]}"
aws ecr describe-image-scan-findings "${image[@]}" \
  --query 'imageScanFindings.findingSeverityCounts' --output table
critical="$(aws ecr describe-image-scan-findings "${image[@]}" \
  --query 'imageScanFindings.findingSeverityCounts.CRITICAL' --output text)"
if [[ "$critical" != "None" && "$critical" != "0" ]]; then
  echo "image-scan: $critical critical finding(s) in $name@$digest: not deploying" >&2
  exit 1
fi
