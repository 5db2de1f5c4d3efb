"""Handlers invoked outside any state machine: alarm_trigger, which EventBridge invokes on a CloudWatch alarm
state change and which starts a remediation execution (nightshift/functions.py: its entry has no ASL
placeholder).
"""
