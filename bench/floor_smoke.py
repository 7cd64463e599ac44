"""Floor of the smoke phase: the same checks as pacs_smoke, as a bare script.

Inbound C-ECHO as each modality's AE, refused C-ECHO as an unknown AE and to a
wrong called AE, C-FIND as each AE allowed to query, outbound C-ECHO from Orthanc
to each modality (REST /modalities/<name>/echo), anonymous HTTP refused, then
STOW-RS of a generated instance, QIDO-RS, WADO-RS, its deletion and a final QIDO
proving nothing is left. Exit status 1 when a check fails.

Usage: python bench/floor_smoke.py SETTINGS.json
SETTINGS: {"host", "aet", "dicom_port", "http_port", "username", "password",
           "modalities": [{"name", "aet", "allow_find"}]}
"""
import io
import json
import sys
import uuid

import requests
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

TIMEOUT = 3


def associate(host, port, calling, called, context):
    """An association offering one presentation context; check is_established."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(context)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    return ae.associate(host, port, ae_title=called)


def echo(host, port, calling, called):
    assoc = associate(host, port, calling, called, Verification)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


def find(host, port, calling, called):
    assoc = associate(host, port, calling, called, StudyRootQueryRetrieveInformationModelFind)
    if not assoc.is_established:
        return False
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    ok = all(status and status.Status in (0x0000, 0xFF00, 0xFF01)
             for status, _ in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    assoc.release()
    return ok


def instance(patient_id):
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID = "PP^SMOKETEST", patient_id
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return ds, buffer.getvalue()


def main(path):
    with open(path) as handle:
        s = json.load(handle)
    host, port, aet = s["host"], int(s["dicom_port"]), s["aet"]
    base = "http://%s:%s" % (host, s["http_port"])
    root = base + "/dicom-web/"
    http = requests.Session()
    http.auth = (s["username"], s["password"])
    results = {}
    for mod in s["modalities"]:
        results["echo_in " + mod["name"]] = echo(host, port, mod["aet"], aet)
        if mod.get("allow_find"):
            results["find_in " + mod["name"]] = find(host, port, mod["aet"], aet)
    results["echo_in_refused unknown"] = not echo(host, port, "PP_SMOKE_UNKNOWN", aet)
    results["echo_in_refused called"] = not echo(host, port, s["modalities"][0]["aet"], "PP_SMOKE_WRONG")
    for mod in s["modalities"]:
        answer = http.post(base + "/modalities/%s/echo" % mod["name"], data="{}", timeout=TIMEOUT)
        results["echo_out " + mod["name"]] = answer.status_code == 200
    results["http_auth"] = requests.get(base + "/system", timeout=TIMEOUT).status_code == 401

    patient_id = "PPSMOKE-" + uuid.uuid4().hex[:12]
    ds, payload = instance(patient_id)
    boundary = uuid.uuid4().hex
    body = (b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + payload
            + b"\r\n--" + boundary.encode() + b"--\r\n")
    answer = http.post(root + "studies", data=body, timeout=TIMEOUT, headers={
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=' + boundary,
        "Accept": "application/dicom+json"})
    results["stow"] = answer.status_code == 200
    answer = http.get(root + "studies", params={"StudyInstanceUID": ds.StudyInstanceUID}, timeout=TIMEOUT)
    results["qido"] = answer.status_code == 200 and len(answer.json()) == 1
    answer = http.get(root + "studies/%s/series/%s/instances/%s" % (
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}, timeout=TIMEOUT)
    results["wado"] = answer.status_code == 200 and ds.PixelData in answer.content
    ids = [item["ID"] for item in http.post(base + "/tools/lookup", data=ds.StudyInstanceUID,
                                            timeout=TIMEOUT).json() if item.get("Type") == "Study"]
    results["delete"] = bool(ids) and all(
        http.delete(base + "/studies/" + i, timeout=TIMEOUT).status_code == 200 for i in ids)
    answer = http.get(root + "studies", params={"PatientID": patient_id}, timeout=TIMEOUT)
    results["cleanup"] = answer.status_code == 200 and answer.json() == []

    failed = sorted(name for name, ok in results.items() if not ok)
    print(json.dumps({"checks": len(results), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
