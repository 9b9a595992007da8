"""Developer tools: the rasa command line, evaluation, benchmarking, WordLlama set-up and the
helper that starts and stops servers. Run from the repository root as `python -m tools.<name>`;
the tests import them like any package. Not part of the product the servers run."""
