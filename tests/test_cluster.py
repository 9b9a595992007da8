"""The cluster profile under faults: cluster/fault_test.py at a reduced size.

Starts PostgreSQL, Redis, HAProxy, two Rasa replicas and two action servers
(apt-get installs the first three when missing), sends 6 senders x 6 messages
and two bursts of 4 from one sender through HAProxy, SIGKILLs a Rasa replica
and stops an action server mid-run, then audits PostgreSQL's events table.
About a minute on two cores. Run alone: pytest -m cluster
"""
import json

import pytest

from cluster import fault_test
from tests.conftest import ROOT

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def summary(trained_model, tmp_path_factory):
    # The data directory stays under the project: PostgreSQL runs as its own
    # user, which cannot enter pytest's private temporary directories.
    out = tmp_path_factory.mktemp("cluster") / "cluster.json"
    return fault_test.run(senders=6, messages=6, parallel=4, calm_senders=2, calm_messages=4,
                          home=ROOT / ".cluster" / "pytest", out=out)


def test_the_faults_happened_mid_run(summary):
    assert [k["target"] for k in summary["kills"]] == ["rasa2", "actions1"]
    assert all(k["after_messages"] < k["of"] for k in summary["kills"]), summary["kills"]


def test_every_request_is_answered_through_the_load_balancer(summary):
    assert summary["unanswered"] == 0, json.dumps(summary["unanswered_requests"], indent=1)
    assert summary["answered"] == summary["messages_sent"]


def test_no_stored_turn_is_lost_duplicated_or_reordered(summary):
    audit = {k: summary[k] for k in ("lost", "duplicated", "reordered", "split_conversations",
                                     "stored_turns_without_bot_reply")}
    assert audit == dict.fromkeys(audit, 0), (audit, summary["duplicated_refs"])
    assert summary["stored_user_turns"] == summary["messages_sent"]
