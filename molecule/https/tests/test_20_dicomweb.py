"""Real DICOMweb through the front door: STOW-RS, QIDO-RS and WADO-RS with the test CA,
and the URLs Orthanc writes in its answers are the HTTPS ones users use."""

import pytest
from conftest import ADDRESS, NAME
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

testinfra_hosts = ["pp-https-pacs"]


@pytest.fixture
def instance():
    dataset = dcmread(get_testdata_file("CT_small.dcm"))
    dataset.PatientName = "PP^HTTPS"
    dataset.PatientID = "PP-HTTPS-1"
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    return dataset


def _delete_study(session, study_uid):
    found = session.post(f"https://{ADDRESS}/tools/lookup", data=study_uid, timeout=30).json()
    for item in found:
        session.delete(f"https://{ADDRESS}/studies/{item['ID']}", timeout=30).raise_for_status()


@pytest.mark.parametrize("which", ["address", "name"])
def test_stow_qido_wado_through_the_front_door(request, instance, which):
    session = request.getfixturevalue("session" if which == "address" else "named_session")
    public = ADDRESS if which == "address" else NAME
    client = DICOMwebClient(url=f"https://{public}/dicom-web", session=session)
    study = instance.StudyInstanceUID
    try:
        client.store_instances([instance])
        found = client.search_for_studies(search_filters={"StudyInstanceUID": study})
        assert len(found) == 1
        # Orthanc's DICOMweb plugin writes the front door's HTTPS URL (Forwarded header).
        assert found[0]["00081190"]["Value"][0] == f"https://{public}/dicom-web/studies/{study}"
        series = client.search_for_series(study)
        assert series[0]["00081190"]["Value"][0].startswith(f"https://{public}/dicom-web/studies/{study}/series/")
        back = client.retrieve_instance(study, instance.SeriesInstanceUID, instance.SOPInstanceUID)
        assert back.PixelData == instance.PixelData
        assert str(back.PatientName) == "PP^HTTPS"
    finally:
        _delete_study(session, study)
    assert client.search_for_studies(search_filters={"StudyInstanceUID": study}) == []


def test_a_study_sized_body_is_accepted(session):
    """A 64 MB body passes nginx (client_max_body_size 4g) and reaches Orthanc, which
    answers for itself (it is not DICOM: Orthanc 1.10.1 says 404 "Inexistent tag"),
    never nginx's 413."""
    answer = session.post(f"https://{ADDRESS}/instances", data=b"\0" * (64 * 1024 * 1024), timeout=120)
    assert answer.status_code != 413
    assert answer.json()["Uri"] == "/instances"  # Orthanc's own error document
