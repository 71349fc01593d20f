#!/usr/bin/env bash
# Push the batch image's OCI archive as <repository>:<commit sha> and print <repository>@<digest>,
# the only form the stack accepts. Tags are immutable: a tag already there (a redeploy, a
# rollback) is reused as it is, never overwritten. Needs the aws CLI and skopeo.
set -euo pipefail
repo="${1:?repository uri}" tag="${2:?image tag}" archive="${3:?oci archive}"
registry="${repo%%/*}" name="${repo#*/}"
region="$(cut -d. -f4 <<<"$registry")"
existing="$(aws ecr describe-images --region "$region" --repository-name "$name" \
  --image-ids "imageTag=$tag" --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)"
if [[ "$existing" == sha256:* ]]; then
  echo "image-push: $name:$tag is already there, reusing $existing" >&2
  echo "$repo@$existing"
  exit 0
fi
aws ecr get-login-password --region "$region" \
  | skopeo login --username AWS --password-stdin "$registry" >&2
digest_file="$(mktemp)"
skopeo copy --quiet --digestfile "$digest_file" "oci-archive:$archive" "docker://$repo:$tag" >&2
echo "$repo@$(cat "$digest_file")"
