"""The failure reason read from a Harbor job log: the cause, not Harbor's generic closing line."""

from adapter.webhooks.harbor import reason_from_log

LOG = """2026-11-28T02:15:01Z [INFO] [/controller/replication/transfer/image/transfer.go:150]: copying library/web:[v1]
2026-11-28T02:15:02Z [ERROR] [/controller/replication/transfer/image/transfer.go:201]: http status code: 403, body: cannot create organization 'dev-container': quota reached
2026-11-28T02:15:02Z [ERROR] [/jobservice/job/impl/replication/replication.go:110]: got error during the whole transfer period, mark the job failure
"""


def test_reason_skips_the_generic_wrap_up_line():
    reason, tail = reason_from_log(LOG, 2)
    assert reason == "http status code: 403, body: cannot create organization 'dev-container': quota reached"
    assert len(tail) == 2 and tail[-1].endswith("mark the job failure")


def test_the_wrap_up_line_is_used_when_it_is_the_only_error():
    only = LOG.splitlines()[2]
    assert reason_from_log(only, 5)[0] == "got error during the whole transfer period, mark the job failure"


def test_no_error_line_falls_back_to_the_last_line():
    assert reason_from_log("a\nb\n", 5)[0] == "b"
