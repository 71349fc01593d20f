#!/usr/bin/env bash
# Smoke test of a deployed stack: start a dry-run execution (plans, writes nothing, downloads no
# bottle) and wait until it SUCCEEDED; anything else, or no end within SMOKE_TIMEOUT s, fails.
set -euo pipefail
stack="${1:?stack name}" region="${2:?region}"
timeout="${SMOKE_TIMEOUT:-900}"
machine="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='StateMachineArn'].OutputValue" --output text)"
execution="$(aws stepfunctions start-execution --region "$region" --state-machine-arn "$machine" \
  --name "smoke-$(date -u +%Y%m%dT%H%M%S)-$RANDOM" --input '{"dry_run": true}' \
  --query executionArn --output text)"
echo "smoke: started $execution"
deadline=$((SECONDS + timeout))
while :; do
  status="$(aws stepfunctions describe-execution --region "$region" --execution-arn "$execution" \
    --query status --output text)"
  case "$status" in
    SUCCEEDED) echo "smoke: SUCCEEDED"; exit 0 ;;
    RUNNING|PENDING_REDRIVE) ;;
    *) echo "smoke: execution ended $status" >&2; exit 1 ;;
  esac
  if (( SECONDS > deadline )); then
    echo "smoke: still $status after ${timeout}s" >&2
    exit 1
  fi
  sleep "${SMOKE_POLL:-10}"
done
