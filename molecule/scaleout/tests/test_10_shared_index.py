"""Two Orthanc nodes share one PostgreSQL index and storage: what one stores, the other serves."""

from conftest import c_store, get, make_instance, qido_finds, stow, to_bytes


def test_study_stored_through_a_is_found_and_read_through_b():
    ds = make_instance(patient="SCALE^A2B")
    answer = stow("pp-scale-a", ds)
    assert answer.status_code == 200, answer.text
    assert qido_finds("pp-scale-b", ds.StudyInstanceUID)
    # The file itself lives in PostgreSQL too: B serves the instance A received (WADO-RS).
    instance = get("pp-scale-b", f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                                 f"/instances/{ds.SOPInstanceUID}",
                   headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert instance.status_code == 200
    assert ds.SOPInstanceUID.encode() in instance.content


def test_study_stored_through_b_is_found_and_read_through_a():
    ds = make_instance(patient="SCALE^B2A")
    assert c_store("pp-scale-b", ds) == 0
    assert qido_finds("pp-scale-a", ds.StudyInstanceUID)
    answer = get("pp-scale-a", "/instances", params={"expand": ""})
    ids = {i["MainDicomTags"]["SOPInstanceUID"]: i["ID"] for i in answer.json()}
    assert ds.SOPInstanceUID in ids
    stored = get("pp-scale-a", f"/instances/{ids[ds.SOPInstanceUID]}/file")
    assert stored.status_code == 200
    assert stored.content.endswith(to_bytes(ds)[-128:])
