"""Translate the SAM template into plain CloudFormation with aws-sam-translator, offline.

``sam build``/``sam package`` would upload the code and the ASL first; here local paths are replaced
the same way they would be: every local ``CodeUri`` by an S3 location (nothing is uploaded), every
``DefinitionUri`` by the ASL file's content inline, so the translated template carries the real
definition and its ``DefinitionSubstitutions`` for linters, checkov and the deploy test.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from nightshift.infra_check import cfn_yaml

DEFAULT_CODE_URI = "s3://nightshift-artifacts/steps.zip"
SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_STATE_MACHINE = "AWS::Serverless::StateMachine"


class _NoManagedPolicies:
    """aws-sam-translator asks IAM for managed policy ARNs only when a template names one by its bare
    name; this template never does, so answering from IAM (which needs credentials) is never needed."""

    def load(self) -> dict[str, str]:
        return {}


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def prepare(template: dict[str, Any], base: Path, code_uri: str = DEFAULT_CODE_URI) -> dict[str, Any]:
    """What `sam package` does to local paths, without uploading anything."""
    sam = copy.deepcopy(template)
    function_globals = sam.get("Globals", {}).get("Function", {})
    if _is_local(function_globals.get("CodeUri")):
        function_globals["CodeUri"] = code_uri
    for resource in sam.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == SERVERLESS_FUNCTION and _is_local(properties.get("CodeUri")):
            properties["CodeUri"] = code_uri
        if resource.get("Type") == SERVERLESS_STATE_MACHINE and _is_local(properties.get("DefinitionUri")):
            path = base / properties.pop("DefinitionUri")
            properties["Definition"] = json.loads(path.read_text())
    return sam


def translate(template_path: Path, code_uri: str = DEFAULT_CODE_URI, region: str = "us-east-1",
              parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would submit (code locations aside)."""
    from samtranslator.translator.transform import transform

    sam = prepare(cfn_yaml.load(template_path), template_path.parent, code_uri)
    # The translator reads the region (for ARNs and partitions) from boto3's default session.
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    try:
        translated: dict[str, Any] = transform(sam, dict(parameters or {}), _NoManagedPolicies())
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
    return translated
