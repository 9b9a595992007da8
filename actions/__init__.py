"""Custom actions for the Klonopin FAQ assistant.

The answers, citations and helplines live in knowledge/*.yml; these modules
only pick the right entry and render it.
"""
