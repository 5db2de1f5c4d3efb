"""Structured logging for every step: JSON lines carrying the execution id as correlation id."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "nightshift"))
