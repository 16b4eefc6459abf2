"""POST /v1/ingest: uploads of files and archives, processed like `elephant ingest`, unpacked safely."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from elephant.api.routes.ingest import safe_relative
from elephant.errors import InvalidRecord
from tests.api.apihelpers import assert_problem

NOTE = b"kind: note\nkey: up/note-1\ntitle: Uploaded note\nbody: INT8 was rejected for ranker\n"
RUNBOOK = b"# Roll back the ranker\n\n1. Shift traffic to v2.\n2. Verify p99 under 40 ms.\n"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], *, link: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            t.addfile(info)
    return buf.getvalue()


def test_upload_files_then_reupload_is_unchanged(client: TestClient) -> None:
    files = [("files", ("notes/n.yaml", NOTE)), ("files", ("runbooks/rollback.md", RUNBOOK))]
    first = client.post("/v1/ingest", files=files)
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["ok"] is True and report["counts"]["files_failed"] == 0
    assert client.get("/v1/records/up/note-1").json()["title"] == "Uploaded note"
    again = client.post("/v1/ingest", files=files).json()
    assert again["ok"] is True
    assert client.get("/v1/records/up/note-1/versions").json()["total"] == 1


def test_zip_and_tar_archives_are_unpacked(client: TestClient) -> None:
    z = client.post("/v1/ingest", files=[("files", ("tree.zip", _zip({"a/n.yaml": NOTE})))], data={"root": "zipped"})
    assert z.status_code == 200 and z.json()["ok"], z.text
    assert client.get("/v1/records/up/note-1").status_code == 200
    other = NOTE.replace(b"up/note-1", b"up/note-2")
    t = client.post("/v1/ingest", files=[("files", ("tree.tar.gz", _tar({"b/n.yaml": other})))], data={"root": "tarred"})
    assert t.status_code == 200 and t.json()["ok"], t.text
    assert client.get("/v1/records/up/note-2").status_code == 200


def test_dry_run_writes_nothing(client: TestClient) -> None:
    response = client.post("/v1/ingest", files=[("files", ("n.yaml", NOTE))], data={"dry_run": "true"})
    assert response.status_code == 200 and response.json()["dry_run"] is True
    assert_problem(client.get("/v1/records/up/note-1"), 404)


def test_prune_retires_records_whose_files_left_the_root(client: TestClient) -> None:
    second = NOTE.replace(b"up/note-1", b"up/note-2")
    client.post("/v1/ingest", files=[("files", ("one.yaml", NOTE)), ("files", ("two.yaml", second))],
                data={"root": "synced"})
    client.post("/v1/ingest", files=[("files", ("one.yaml", NOTE))], data={"root": "synced", "prune": "true"})
    assert client.get("/v1/records/up/note-1").status_code == 200
    assert_problem(client.get("/v1/records/up/note-2"), 404)


@pytest.mark.parametrize("name", ["../evil.yaml", "/etc/passwd", "a/../../b.yaml", "C:/x.yaml", "..\\x.yaml"])
def test_path_traversal_in_file_names_is_refused(client: TestClient, name: str, tmp_path: Path) -> None:
    body = assert_problem(client.post("/v1/ingest", files=[("files", (name, NOTE))]), 422)
    assert body["errors"][0]["field"] == "files"
    assert not (tmp_path / "evil.yaml").exists()


@pytest.mark.parametrize("member", ["../escape.yaml", "/abs.yaml", "x/../../escape.yaml"])
def test_path_traversal_in_archives_is_refused(client: TestClient, member: str) -> None:
    for archive in (("t.zip", _zip({member: NOTE})), ("t.tar.gz", _tar({member: NOTE}))):
        body = assert_problem(client.post("/v1/ingest", files=[("files", archive)]), 422)
        assert member.strip("/").split("/")[0] in body["detail"] or ".." in body["detail"]
    assert_problem(client.get("/v1/records/up/note-1"), 404)


def test_links_in_archives_are_refused(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/ingest", files=[("files", ("l.tgz", _tar({"n.yaml": NOTE},
                                                                                   link=("x", "/etc/passwd"))))]), 422)
    assert "regular files" in body["detail"]


def test_corrupt_archives_and_bad_roots(client: TestClient) -> None:
    assert_problem(client.post("/v1/ingest", files=[("files", ("bad.zip", b"not a zip"))]), 422)
    assert_problem(client.post("/v1/ingest", files=[("files", ("bad.tar.gz", b"not a tar"))]), 422)
    assert_problem(client.post("/v1/ingest", files=[("files", ("n.yaml", NOTE))], data={"root": "../up"}), 400)
    assert_problem(client.post("/v1/ingest"), 422)


def test_bad_files_are_reported_and_the_rest_go_on(client: TestClient) -> None:
    files = [("files", ("good.yaml", NOTE)), ("files", ("bad.yaml", b"kind: note\nkey: [unclosed\n"))]
    report = client.post("/v1/ingest", files=files).json()
    assert report["ok"] is False and report["counts"]["files_failed"] >= 1
    assert any("bad.yaml" in f["path"] for f in report["failed"])
    assert client.get("/v1/records/up/note-1").status_code == 200


def test_safe_relative() -> None:
    assert str(safe_relative("./a//b/c.yaml", what="file")) == "a/b/c.yaml"
    with pytest.raises(InvalidRecord):
        safe_relative("a/\x00b", what="file")
    with pytest.raises(InvalidRecord):
        safe_relative("./", what="file")


def test_zip_symlinks_are_refused(client: TestClient) -> None:
    import stat

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        link = zipfile.ZipInfo("link.yaml")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    body = assert_problem(client.post("/v1/ingest", files=[("files", ("l.zip", buf.getvalue()))]), 422)
    assert "link.yaml" in body["detail"]


def test_unpacked_size_and_member_caps(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import elephant.api.routes.ingest as ingest_route

    # a highly compressible member: tiny upload, large unpacked size (the zip-bomb shape)
    bomb = _zip({"big.yaml": b"#" * 200_000})
    assert len(bomb) < 5_000
    monkeypatch.setattr(ingest_route, "MAX_UNPACKED_BYTES", 100_000)
    body = assert_problem(client.post("/v1/ingest", files=[("files", ("b.zip", bomb))]), 422)
    assert "unpacks to more than" in body["detail"]
    monkeypatch.setattr(ingest_route, "MAX_MEMBERS", 2)
    many = _zip({f"n{i}.yaml": NOTE for i in range(3)})
    assert "more than 2 files" in assert_problem(client.post("/v1/ingest", files=[("files", ("m.zip", many))]), 422)["detail"]
