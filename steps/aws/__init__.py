"""boto3 ports: the only modules that talk to AWS. Each returns plain data and raises steps.core.exceptions."""
