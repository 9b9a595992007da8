"""`python -m tools.evaluate` (make eval): config.yml against eval/configs/, see __main__.py."""
