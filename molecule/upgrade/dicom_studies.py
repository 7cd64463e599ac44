"""Real studies into an Orthanc, and a record of everything it holds (molecule/upgrade).

  dicom_studies.py store HOST PORT CALLED_AET CALLING_AET
      C-STOREs 2 patients, 3 studies, 5 series, 10 instances made from pydicom's CT_small.dcm
      (fresh UIDs, names and instance numbers).
  dicom_studies.py snapshot URL USER PASSWORD STORAGE_DIR OUT.json
      Writes /statistics' counts, every patient's studies, every study's series, every
      series' instances, and for every instance the MD5 Orthanc keeps for its DICOM
      attachment and the SHA-256 of the file with that MD5 under STORAGE_DIR.
"""

import base64
import hashlib
import json
import os
import sys
import urllib.request

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pynetdicom import AE

# (patient, study, series, instances in the series)
LAYOUT = [("UPG001", 1, 1, 2), ("UPG001", 1, 2, 2), ("UPG001", 2, 1, 1),
          ("UPG002", 1, 1, 3), ("UPG002", 1, 2, 2)]
COUNTS = ("CountPatients", "CountStudies", "CountSeries", "CountInstances")


def datasets():
    """The datasets of LAYOUT: each series and study with its own UIDs, each instance too."""
    base = get_testdata_file("CT_small.dcm")
    studies, series_uids, made = {}, {}, []
    for patient, study, series, count in LAYOUT:
        study_uid = studies.setdefault((patient, study), generate_uid())
        series_uid = series_uids.setdefault((patient, study, series), generate_uid())
        for number in range(1, count + 1):
            ds = dcmread(base)
            ds.PatientID, ds.PatientName = patient, "Upgrade^%s" % patient
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = str(study), series, number
            made.append(ds)
    return made


def store(host, port, called, calling):
    """C-STORE every dataset; raises unless each is answered with status 0x0000."""
    made = datasets()
    ae = AE(ae_title=calling)
    ae.add_requested_context(made[0].SOPClassUID, made[0].file_meta.TransferSyntaxUID)
    assoc = ae.associate(host, int(port), ae_title=called)
    if not assoc.is_established:
        raise SystemExit("association with %s:%s (%s) refused" % (host, port, called))
    try:
        for ds in made:
            status = assoc.send_c_store(ds)
            if getattr(status, "Status", None) != 0x0000:
                raise SystemExit("C-STORE of %s answered %r" % (ds.SOPInstanceUID, status))
    finally:
        assoc.release()
    return len(made)


def get(url, user, password):
    """GET url as JSON with basic authentication."""
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": "Basic " + token})
    with urllib.request.urlopen(request, timeout=20) as answer:
        return json.loads(answer.read())


def md5_to_sha256(storage):
    """{md5: sha256} of every file under storage (Orthanc's attachment files, uncompressed)."""
    found = {}
    for folder, _, files in os.walk(storage):
        for name in files:
            data = open(os.path.join(folder, name), "rb").read()
            found[hashlib.md5(data).hexdigest()] = hashlib.sha256(data).hexdigest()
    return found


def snapshot(url, user, password, storage):
    """Everything the Orthanc at url holds, with each instance's file hash."""
    url = url.rstrip("/")
    stats = get(url + "/statistics", user, password)
    files = md5_to_sha256(storage)
    record = {"counts": {k: stats[k] for k in COUNTS}, "patients": {}, "studies": {}, "series": {},
              "instances": {}}
    for patient in get(url + "/patients", user, password):
        record["patients"][patient] = sorted(get(url + "/patients/%s" % patient, user, password)["Studies"])
    for study in get(url + "/studies", user, password):
        record["studies"][study] = sorted(get(url + "/studies/%s" % study, user, password)["Series"])
    for series in get(url + "/series", user, password):
        record["series"][series] = sorted(get(url + "/series/%s" % series, user, password)["Instances"])
    for instance in get(url + "/instances", user, password):
        md5 = fetch_text(url + "/instances/%s/attachments/dicom/md5" % instance, user, password)
        record["instances"][instance] = {"md5": md5, "sha256": files.get(md5)}
    return record


def fetch_text(url, user, password):
    """GET url as text with basic authentication."""
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": "Basic " + token})
    with urllib.request.urlopen(request, timeout=20) as answer:
        return answer.read().decode().strip()


def main(argv):
    """Run the command argv names."""
    if argv[:1] == ["store"] and len(argv) == 5:
        print("stored %d instances" % store(*argv[1:]))
    elif argv[:1] == ["snapshot"] and len(argv) == 6:
        record = snapshot(*argv[1:5])
        missing = [i for i, v in record["instances"].items() if not v["sha256"]]
        if missing:
            raise SystemExit("no file under %s for instances %s" % (argv[4], missing))
        with open(argv[5], "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, sort_keys=True)
        print(json.dumps(record["counts"]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
