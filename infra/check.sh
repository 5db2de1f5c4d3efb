#!/usr/bin/env bash
# The offline gate of the deployment (`make infra-check`). Needs only python3, node and npm: on first use
# it installs the linters into .venv-infra and asl-validator into .tools (both gitignored), and again
# only when their pins change. Runs every check, then exits non-zero when any failed:
#   1. translate infra/template.yaml to plain CloudFormation (build/template.cfn.json)
#   2. the pure-Python checks on the template, the translation and statemachine/*.asl.json
#      (placeholders, Lambda functions, Retry, IAM wildcards: nightshift/infra_check)
#   3. cfn-lint on the SAM template and on the translation
#   4. asl-validator on every statemachine/*.asl.json
#   5. checkov on the translation (skips, with their reasons: infra/checkov.yaml)
# Nothing talks to AWS.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv-infra
TOOLS=.tools
ASL_VALIDATOR_VERSION=4.0.0
TRANSLATED=build/template.cfn.json

started=$SECONDS
failed=()
passed=()

step() { printf '\n== %s\n' "$*"; }
run() {  # run NAME COMMAND...: record the outcome, keep going
    local name=$1
    shift
    step "$name"
    if "$@"; then passed+=("$name"); else failed+=("$name"); fi
}

install_python_tools() {
    local pins stamp
    pins=$(cat infra/check-requirements.txt infra/check-constraints.txt | sha256sum | cut -c1-16)
    stamp=$VENV/.installed-$pins
    [ -f "$stamp" ] && return 0
    step "installing cfn-lint, aws-sam-translator and checkov into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || return 1
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip || return 1
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r infra/check-requirements.txt -c infra/check-constraints.txt || return 1
    touch "$stamp"
}

install_node_tools() {
    local stamp=$TOOLS/.asl-validator-$ASL_VALIDATOR_VERSION
    [ -f "$stamp" ] && [ -x "$TOOLS/node_modules/.bin/asl-validator" ] && return 0
    step "installing asl-validator@$ASL_VALIDATOR_VERSION into $TOOLS"
    rm -rf "$TOOLS"
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-audit --no-fund --silent --save-exact \
        "asl-validator@$ASL_VALIDATOR_VERSION" || return 1
    touch "$stamp"
}

command -v "$PYTHON" >/dev/null || { echo "infra-check: $PYTHON not found" >&2; exit 2; }
command -v npm >/dev/null || { echo "infra-check: npm not found (install node and npm)" >&2; exit 2; }
install_python_tools || { echo "infra-check: could not install the Python tools" >&2; exit 2; }
install_node_tools || { echo "infra-check: could not install asl-validator" >&2; exit 2; }
# Both directories are machine-local: keep them out of git even where .gitignore does not list them.
for dir in "$VENV" "$TOOLS"; do [ -f "$dir/.gitignore" ] || echo '*' > "$dir/.gitignore"; done

# The checks import the repository's own packages (nightshift.infra_check, steps.core.config) from the
# working tree; .venv-infra has their few dependencies (PyYAML, pydantic) through the linters.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=$VENV/bin/python

validate_asl() {
    local status=0 file
    for file in statemachine/*.asl.json; do
        "$TOOLS/node_modules/.bin/asl-validator" --json-path "$file" || status=1
    done
    return $status
}

run "translate SAM to CloudFormation ($TRANSLATED)" "$PY" -m nightshift.infra_check translate --out "$TRANSLATED"
if [ -f "$TRANSLATED" ]; then
    run "placeholders, functions, Retry, IAM wildcards" \
        "$PY" -m nightshift.infra_check check --translated "$TRANSLATED"
    # cfn-lint's Fn::Join validator recurses once per element; the offline translation inlines the ASL as
    # an Fn::Join of ~1,200 lines (sam package would upload it to S3 instead), past Python's default depth.
    run "cfn-lint infra/template.yaml $TRANSLATED" "$PY" -c \
        'import sys; sys.setrecursionlimit(20000); from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; main()' \
        infra/template.yaml "$TRANSLATED"
    run "asl-validator statemachine/*.asl.json" validate_asl
    run "checkov $TRANSLATED" "$VENV/bin/checkov" --file "$TRANSLATED" --config-file infra/checkov.yaml
else
    failed+=("checks of the translated template (translation failed)")
fi

elapsed=$((SECONDS - started))
echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "infra-check: all ${#passed[@]} steps passed in ${elapsed}s: $(IFS=';'; echo "${passed[*]}" | sed 's/;/; /g')"
    exit 0
fi
echo "infra-check: ${#failed[@]} of $((${#passed[@]} + ${#failed[@]})) steps FAILED in ${elapsed}s:" >&2
printf '  - %s\n' "${failed[@]}" >&2
exit 1
