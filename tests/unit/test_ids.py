"""new_id and new_ids: UUIDv7 values equal to what uuid.UUID builds, unique, time-ordered by
millisecond, and never shared with a forked child."""

from __future__ import annotations

import os
import time
import uuid

from billgraph.models import new_id, new_ids


def test_ids_are_version_7_uuids_like_the_uuid_modules_own() -> None:
    for made in [new_id() for _ in range(2000)] + new_ids(2000):
        parsed = uuid.UUID(str(made))
        assert parsed == made and hash(parsed) == hash(made)
        assert made.version == 7 and made.variant == uuid.RFC_4122
        assert uuid.UUID(bytes=made.bytes) == made and made.int == parsed.int


def test_ids_are_unique_across_many_buffer_refills() -> None:
    ids = [new_id() for _ in range(20_000)]  # ~50 refills of the 4 KiB entropy buffer
    assert len(set(ids)) == len(ids)
    many = new_ids(20_000) + new_ids(1) + new_ids(20_000)
    assert len(many) == 40_001 and len(set(many) | set(ids)) == 60_001
    assert new_ids(0) == []


def test_ids_start_with_the_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_id(), *new_ids(3)]
    after = time.time_ns() // 1_000_000
    assert all(before <= one.int >> 80 <= after for one in made)


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
