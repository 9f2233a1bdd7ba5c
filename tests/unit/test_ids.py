"""new_id: UUIDv7 values equal to what uuid.UUID builds, unique, time-ordered by
millisecond, and never shared with a forked child."""

from __future__ import annotations

import os
import time
import uuid

from billgraph.models import new_id


def test_ids_are_version_7_uuids_like_the_uuid_modules_own() -> None:
    for made in (new_id() for _ in range(2000)):
        parsed = uuid.UUID(str(made))
        assert parsed == made and hash(parsed) == hash(made)
        assert made.version == 7 and made.variant == uuid.RFC_4122
        assert uuid.UUID(bytes=made.bytes) == made and made.int == parsed.int


def test_ids_are_unique_across_many_buffer_refills() -> None:
    ids = [new_id() for _ in range(20_000)]  # ~50 refills of the 4 KiB entropy buffer
    assert len(set(ids)) == len(ids)


def test_ids_start_with_the_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after


def test_a_forked_child_draws_other_random_bits() -> None:
    new_id()  # the parent's buffer is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id's random part
        os.close(read)
        os.write(write, new_id().bytes[6:])
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 10
    assert child != new_id().bytes[6:]
