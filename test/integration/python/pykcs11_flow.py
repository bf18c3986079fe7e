"""
Drives the Craton HSM module through PyKCS11 and prints one JSON document with what it saw.

    /usr/bin/python3 pykcs11_flow.py MODULE SO_PIN USER_PIN setup    # fresh store: init, login, objects, digests
    /usr/bin/python3 pykcs11_flow.py MODULE SO_PIN USER_PIN reopen   # a later process: the stored token and objects

Every step records either its result or {"error": "CKR_..."}, so one failure does not hide the rest;
the vitest side asserts on the values. The transport comes from CRATON_HSM_RUNTIME.
"""
import hashlib
import json
import sys

import PyKCS11
from PyKCS11 import (
    CKA_APPLICATION, CKA_CLASS, CKA_LABEL, CKA_PRIVATE, CKA_TOKEN, CKA_VALUE, CKF_DIGEST,
    CKF_RW_SESSION, CKF_SERIAL_SESSION, CKO_DATA, CKU_SO, CKU_USER, Mechanism, PyKCS11Error,
)

MODULE, SO_PIN, USER_PIN, MODE = sys.argv[1:5]
MESSAGE = b"PyKCS11 digest input " * 100

DIGESTS = {
    "CKM_SHA_1": "sha1",
    "CKM_SHA224": "sha224",
    "CKM_SHA256": "sha256",
    "CKM_SHA384": "sha384",
    "CKM_SHA512": "sha512",
    "CKM_SHA3_224": "sha3_224",
    "CKM_SHA3_256": "sha3_256",
    "CKM_SHA3_384": "sha3_384",
    "CKM_SHA3_512": "sha3_512",
}

out = {}


def step(name, fn):
    try:
        out[name] = fn()
    except PyKCS11Error as e:
        out[name] = {"error": PyKCS11.CKR.get(e.value, hex(e.value))}


def ckr_of(fn):
    """The CKR_ name a call fails with, or "CKR_OK"."""
    try:
        fn()
        return "CKR_OK"
    except PyKCS11Error as e:
        return PyKCS11.CKR.get(e.value, hex(e.value))


def token_info(slot):
    t = lib.getTokenInfo(slot)
    return {
        "label": t.label.strip(),
        "manufacturerID": t.manufacturerID.strip(),
        "model": t.model.strip(),
        "flags": sorted(t.flags2text()),
        "minPin": t.ulMinPinLen,
        "maxPin": t.ulMaxPinLen,
    }


def data_labels(session):
    objs = session.findObjects([(CKA_CLASS, CKO_DATA)])
    return sorted(session.getAttributeValue(o, [CKA_LABEL])[0] for o in objs)


lib = PyKCS11.PyKCS11Lib()
lib.load(MODULE)
slots = lib.getSlotList(tokenPresent=True)
slot = slots[0]

if MODE == "setup":
    def info():
        i = lib.getInfo()
        return {
            "manufacturerID": i.manufacturerID.strip(),
            "libraryDescription": i.libraryDescription.strip(),
            "cryptokiVersion": list(i.cryptokiVersion),
        }

    step("info", info)
    out["slots"] = [int(s) for s in slots]
    out["allSlots"] = [int(s) for s in lib.getSlotList(tokenPresent=False)]
    step("slotDescription", lambda: lib.getSlotInfo(slot).slotDescription.strip())
    step("tokenBefore", lambda: token_info(slot))
    step("mechanisms", lambda: sorted(lib.getMechanismList(slot)))
    step("digestFlags", lambda: {m: bool(lib.getMechanismInfo(slot, m).flags & CKF_DIGEST) for m in DIGESTS})

    step("initToken", lambda: lib.initToken(slot, SO_PIN, "pykcs11".ljust(32)))
    so = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    out["wrongSoPin"] = ckr_of(lambda: so.login("00000000", CKU_SO))
    step("soLogin", lambda: so.login(SO_PIN, CKU_SO))
    step("soState", lambda: so.getSessionInfo().state2text())
    step("initPin", lambda: so.initPin(USER_PIN))
    step("soLogout", lambda: so.logout())
    so.closeSession()
    step("tokenAfter", lambda: token_info(slot))

    session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    out["wrongUserPin"] = ckr_of(lambda: session.login("0000", CKU_USER))
    step("publicState", lambda: session.getSessionInfo().state2text())
    step("userLogin", lambda: session.login(USER_PIN, CKU_USER))
    step("userState", lambda: session.getSessionInfo().state2text())
    out["loginTwice"] = ckr_of(lambda: session.login(USER_PIN, CKU_USER))

    def create():
        session.createObject([
            (CKA_CLASS, CKO_DATA),
            (CKA_TOKEN, True),
            (CKA_LABEL, "pykcs11 data"),
            (CKA_APPLICATION, "pykcs11-tests"),
            (CKA_VALUE, b"hello from PyKCS11"),
        ])
        session.createObject([
            (CKA_CLASS, CKO_DATA),
            (CKA_TOKEN, True),
            (CKA_PRIVATE, True),
            (CKA_LABEL, "pykcs11 private"),
            (CKA_VALUE, b"secret"),
        ])
        session.createObject([(CKA_CLASS, CKO_DATA), (CKA_LABEL, "pykcs11 session"), (CKA_VALUE, b"gone soon")])
        return True

    step("create", create)

    def find():
        found = session.findObjects([(CKA_CLASS, CKO_DATA), (CKA_LABEL, "pykcs11 data")])
        attrs = session.getAttributeValue(found[0], [CKA_LABEL, CKA_APPLICATION, CKA_VALUE, CKA_TOKEN, CKA_PRIVATE])
        return {
            "count": len(found),
            "label": attrs[0],
            "application": attrs[1],
            "value": bytes(attrs[2]).decode(),
            "token": bool(attrs[3]),
            "private": bool(attrs[4]),
        }

    step("find", find)
    step("labelsLoggedIn", lambda: data_labels(session))

    def digests():
        result = {}
        for name, py in DIGESTS.items():
            mech = Mechanism(PyKCS11.CKM[name], None)
            single = bytes(session.digest(MESSAGE, mech)).hex()
            multi = session.digestSession(mech)
            multi.update(MESSAGE[:5])
            multi.update(MESSAGE[5:])
            result[name] = {
                "single": single,
                "multi": bytes(multi.final()).hex(),
                "hashlib": hashlib.new(py, MESSAGE).hexdigest(),
            }
        return result

    step("digests", digests)
    step("sha256abc", lambda: bytes(session.digest(b"abc", Mechanism(PyKCS11.CKM_SHA256, None))).hex())
    step("random", lambda: len(session.generateRandom(64)))

    def random_large():
        # Larger than the runtime's initial 256-byte reply buffer.
        data = bytes(session.generateRandom(4096))
        return {"length": len(data), "distinct": len(set(data))}

    step("randomLarge", random_large)
    step("logout", lambda: session.logout())
    step("labelsLoggedOut", lambda: data_labels(session))
    session.closeSession()

elif MODE == "reopen":
    session = lib.openSession(slot, CKF_SERIAL_SESSION)
    step("token", lambda: token_info(slot))
    step("labelsPublic", lambda: data_labels(session))
    step("userLogin", lambda: session.login(USER_PIN, CKU_USER))
    step("labelsLoggedIn", lambda: data_labels(session))
    step("value", lambda: bytes(session.getAttributeValue(
        session.findObjects([(CKA_LABEL, "pykcs11 private")])[0], [CKA_VALUE])[0]).decode())
    session.closeSession()

else:
    sys.exit("unknown mode " + MODE)

print(json.dumps(out))
