#!/usr/bin/env bash
# Posts the preview `make preview STACK=<stack>` wrote (build/previews/<stack>.txt) on pull request $PR_NUMBER of
# $GITHUB_REPOSITORY with the GitHub CLI, replacing this stack's earlier comment so a PR shows one per stack.
set -euo pipefail
stack=${1:?usage: tools/pr_comment.sh STACK}
preview=build/previews/$stack.txt
for name in GH_TOKEN PR_NUMBER GITHUB_REPOSITORY; do
  [ -n "${!name:-}" ] || { echo "pr-comment: $name is not set (the pull-request workflow sets it)" >&2; exit 2; }
done
[ -f "$preview" ] || { echo "pr-comment: $preview is missing: run make preview STACK=$stack first" >&2; exit 2; }
command -v gh >/dev/null || { echo "pr-comment: the GitHub CLI (gh) is required" >&2; exit 2; }
marker="<!-- aurigraph-preview:$stack -->"
body=$(mktemp)
trap 'rm -f "$body"' EXIT
{
  echo "$marker"
  echo "### \`pulumi preview\` of \`$stack\` with the policy pack"
  echo
  echo '```'
  # GitHub limits a comment to 65536 characters: keep the end, where the summary and the policy results are.
  tail -c 60000 "$preview"
  echo '```'
} > "$body"
earlier=$(gh api "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" --paginate \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | tail -n 1)
if [ -n "$earlier" ]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$earlier" -F "body=@$body" >/dev/null
else
  gh pr comment "$PR_NUMBER" --repo "$GITHUB_REPOSITORY" --body-file "$body"
fi
