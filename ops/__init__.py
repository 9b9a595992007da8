"""Operations tools that run beside the assistant: retention, log redaction."""
