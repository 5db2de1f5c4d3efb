"""The floor under every handler's cold import (bench section 5): the libraries each Nightshift handler needs,
and nothing of ours. Every step reads its group configuration and its event through pydantic models, keeps its
lifecycle record and audit in DynamoDB through PynamoDB, logs and emits metrics with Powertools, and calls AWS
through boto3 clients. A handler can import no faster than this module; the distance between the two is what
our own code costs at a cold start."""

from __future__ import annotations

import boto3  # noqa: F401
import pydantic  # noqa: F401
from aws_lambda_powertools import Logger  # noqa: F401
from aws_lambda_powertools.metrics import MetricUnit  # noqa: F401
from pynamodb.models import Model  # noqa: F401
