"""
Calls C_DeriveKey and C_GenerateKey on the Craton HSM module through ctypes, with the mechanism
parameter structures laid out by hand (pkcs11js and PyKCS11 have no CK_HKDF_PARAMS,
CK_PKCS5_PBKD2_PARAMS2 or CK_SP800_108_KDF_PARAMS), and prints what each case produced as JSON.

    python3 derive_cases.py MODULE SO_PIN USER_PIN < cases.json

Each case: {"op": "derive" | "generate", "mechanism": N, "param": {...}, "template": [[type, kind, value]],
"base": {"attrs": [[type, kind, value]]}, "salt_key": {...}}; kinds are "ulong", "bool" and "hex".
An "sp800" parameter: {"mode": "counter" | "feedback", "prf": N, "iv": hex, "data": [field], "additional":
[{"template": [...], "null_handle": bool}]}, each field {"type": N} plus one of "counter": [little_endian, bits],
"dkm": [method, little_endian, bits], "hex": bytes, "null": true (NULL, 0) or "base_handle": true (a
CK_OBJECT_HANDLE_PTR to the base key).
Each result: {"rv": N, "value": hex, "class": N, "created": N} (value and class only when rv is 0; created:
how many objects the call added), plus for SP800-108 "additional": [{"handle": N, "value": hex}], what each
CK_DERIVED_KEY's phKey received. The vitest side (derive.test.ts) computes the expected values with Node's crypto.
"""
import ctypes as C
import json
import sys

MODULE, SO_PIN, USER_PIN = sys.argv[1:4]
ULONG = C.c_ulong
BBOOL = C.c_ubyte
BYTES = C.POINTER(C.c_ubyte)

CKA_CLASS, CKA_VALUE = 0x0, 0x11
CKU_SO, CKU_USER = 0, 1
CKF_RW_SERIAL = 0x2 | 0x4


class Attribute(C.Structure):
    _fields_ = [("type", ULONG), ("pValue", C.c_void_p), ("ulValueLen", ULONG)]


class Mechanism(C.Structure):
    _fields_ = [("mechanism", ULONG), ("pParameter", C.c_void_p), ("ulParameterLen", ULONG)]


class HkdfParams(C.Structure):
    _fields_ = [("bExtract", BBOOL), ("bExpand", BBOOL), ("prfHashMechanism", ULONG), ("ulSaltType", ULONG),
                ("pSalt", BYTES), ("ulSaltLen", ULONG), ("hSaltKey", ULONG), ("pInfo", BYTES), ("ulInfoLen", ULONG)]


class Pbkdf2Params2(C.Structure):
    _fields_ = [("saltSource", ULONG), ("pSaltSourceData", BYTES), ("ulSaltSourceDataLen", ULONG),
                ("iterations", ULONG), ("prf", ULONG), ("pPrfData", BYTES), ("ulPrfDataLen", ULONG),
                ("pPassword", BYTES), ("ulPasswordLen", ULONG)]


class StringData(C.Structure):
    _fields_ = [("pData", BYTES), ("ulLen", ULONG)]


class AesCbcEncryptData(C.Structure):
    _fields_ = [("iv", C.c_ubyte * 16), ("pData", BYTES), ("length", ULONG)]


class CounterFormat(C.Structure):
    _fields_ = [("bLittleEndian", BBOOL), ("ulWidthInBits", ULONG)]


class DkmLengthFormat(C.Structure):
    _fields_ = [("dkmLengthMethod", ULONG), ("bLittleEndian", BBOOL), ("ulWidthInBits", ULONG)]


class PrfDataParam(C.Structure):
    _fields_ = [("type", ULONG), ("pValue", C.c_void_p), ("ulValueLen", ULONG)]


class DerivedKey(C.Structure):
    _fields_ = [("pTemplate", C.POINTER(Attribute)), ("ulAttributeCount", ULONG), ("phKey", C.POINTER(ULONG))]


class Sp800KdfParams(C.Structure):
    _fields_ = [("prfType", ULONG), ("ulNumberOfDataParams", ULONG), ("pDataParams", C.POINTER(PrfDataParam)),
                ("ulAdditionalDerivedKeys", ULONG), ("pAdditionalDerivedKeys", C.POINTER(DerivedKey))]


class Sp800FeedbackKdfParams(C.Structure):
    _fields_ = [("prfType", ULONG), ("ulNumberOfDataParams", ULONG), ("pDataParams", C.POINTER(PrfDataParam)),
                ("ulIVLen", ULONG), ("pIV", BYTES),
                ("ulAdditionalDerivedKeys", ULONG), ("pAdditionalDerivedKeys", C.POINTER(DerivedKey))]


lib = C.CDLL(MODULE)
for name in ("C_Initialize", "C_Finalize", "C_GetSlotList", "C_InitToken", "C_OpenSession", "C_Login", "C_InitPIN",
             "C_Logout", "C_CreateObject", "C_GetAttributeValue", "C_DeriveKey", "C_GenerateKey",
             "C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal"):
    getattr(lib, name).restype = ULONG
keep = []  # buffers that must outlive the call they are passed to


def buf(hexstr):
    """A byte buffer for a pointer field: NULL when empty."""
    raw = bytes.fromhex(hexstr)
    if not raw:
        return None, 0
    b = (C.c_ubyte * len(raw)).from_buffer_copy(raw)
    keep.append(b)
    return C.cast(b, BYTES), len(raw)


def template(entries):
    attrs = (Attribute * len(entries))()
    for a, (t, kind, value) in zip(attrs, entries):
        if kind == "hex":
            p, n = buf(value)
        else:
            v = ULONG(value) if kind == "ulong" else BBOOL(1 if value else 0)
            keep.append(v)
            p, n = C.cast(C.pointer(v), BYTES), C.sizeof(v)
        a.type, a.pValue, a.ulValueLen = t, C.cast(p, C.c_void_p), n
    keep.append(attrs)
    return attrs, len(entries)


def check(rv, what):
    if rv != 0:
        raise SystemExit(f"{what} failed: 0x{rv:x}")


def param_struct(p, handles):
    kind = p["kind"]
    if kind == "hkdf":
        s = HkdfParams(bExtract=p["extract"], bExpand=p["expand"], prfHashMechanism=p["prf"], ulSaltType=p["saltType"])
        s.pSalt, s.ulSaltLen = buf(p.get("salt", ""))
        s.hSaltKey = handles.get("salt_key", 0)
        s.pInfo, s.ulInfoLen = buf(p.get("info", ""))
    elif kind == "pbkdf2":
        s = Pbkdf2Params2(saltSource=p["saltSource"], iterations=p["iterations"], prf=p["prf"])
        s.pSaltSourceData, s.ulSaltSourceDataLen = buf(p["salt"])
        s.pPassword, s.ulPasswordLen = buf(p["password"])
    elif kind == "string":
        s = StringData()
        s.pData, s.ulLen = buf(p["data"])
    elif kind == "cbc":
        s = AesCbcEncryptData()
        C.memmove(s.iv, bytes.fromhex(p["iv"]), 16)
        s.pData, s.length = buf(p["data"])
    elif kind == "sp800":
        s = Sp800KdfParams() if p["mode"] == "counter" else Sp800FeedbackKdfParams()
        s.prfType = p["prf"]
        fields = (PrfDataParam * len(p["data"]))()
        for f, d in zip(fields, p["data"]):
            f.type = d["type"]
            if "counter" in d:
                v = CounterFormat(*d["counter"])
            elif "dkm" in d:
                v = DkmLengthFormat(*d["dkm"])
            elif "base_handle" in d:
                v = ULONG(handles["base"])
            else:
                v = None
            if v is not None:
                keep.append(v)
                f.pValue, f.ulValueLen = C.cast(C.pointer(v), C.c_void_p), C.sizeof(v)
            elif "hex" in d:
                b, f.ulValueLen = buf(d["hex"])
                f.pValue = C.cast(b, C.c_void_p)
        keep.append(fields)
        s.ulNumberOfDataParams, s.pDataParams = len(p["data"]), fields
        if p["mode"] == "feedback":
            s.pIV, s.ulIVLen = buf(p.get("iv", ""))
        extra = p.get("additional", [])
        if extra:
            keys = (DerivedKey * len(extra))()
            for k, e in zip(keys, extra):
                t, n = template(e["template"])
                k.pTemplate, k.ulAttributeCount = t, n
                if not e.get("null_handle"):
                    h = ULONG(0)
                    keep.append(h)
                    k.phKey = C.pointer(h)
            keep.append(keys)
            s.ulAdditionalDerivedKeys, s.pAdditionalDerivedKeys = len(extra), keys
    else:
        raise SystemExit(f"unknown parameter kind {kind}")
    keep.append(s)
    return C.cast(C.pointer(s), C.c_void_p), C.sizeof(s)


def read(session, handle, attr):
    a = Attribute(attr, None, 0)
    rv = lib.C_GetAttributeValue(session, ULONG(handle), C.byref(a), ULONG(1))
    if rv != 0:
        return rv, None
    out = (C.c_ubyte * max(a.ulValueLen, 1))()
    a.pValue = C.cast(out, C.c_void_p)
    rv = lib.C_GetAttributeValue(session, ULONG(handle), C.byref(a), ULONG(1))
    return rv, bytes(out[: a.ulValueLen])


def object_count(session):
    found = (ULONG * 1024)()
    n = ULONG()
    check(lib.C_FindObjectsInit(session, None, ULONG(0)), "C_FindObjectsInit")
    check(lib.C_FindObjects(session, found, ULONG(1024), C.byref(n)), "C_FindObjects")
    check(lib.C_FindObjectsFinal(session), "C_FindObjectsFinal")
    return n.value


def create(session, attrs):
    t, n = template(attrs)
    h = ULONG()
    check(lib.C_CreateObject(session, t, ULONG(n), C.byref(h)), "C_CreateObject")
    return h.value


def run_case(session, case):
    handles = {}
    if "base" in case:
        handles["base"] = create(session, case["base"]["attrs"])
    if "salt_key" in case:
        handles["salt_key"] = create(session, case["salt_key"]["attrs"])
    mech = Mechanism(case["mechanism"], None, 0)
    sp800 = None
    if "param" in case:
        mech.pParameter, mech.ulParameterLen = param_struct(case["param"], handles)
        if case["param"]["kind"] == "sp800":
            layout = Sp800KdfParams if case["param"]["mode"] == "counter" else Sp800FeedbackKdfParams
            sp800 = C.cast(mech.pParameter, C.POINTER(layout)).contents
    t, n = template(case["template"])
    out = ULONG()
    before = object_count(session)
    if case["op"] == "derive":
        rv = lib.C_DeriveKey(session, C.byref(mech), ULONG(handles["base"]), t, ULONG(n), C.byref(out))
    else:
        rv = lib.C_GenerateKey(session, C.byref(mech), t, ULONG(n), C.byref(out))
    created = object_count(session) - before
    if rv != 0:
        return {"rv": rv, "created": created}
    rv, value = read(session, out.value, CKA_VALUE)
    _, cls = read(session, out.value, CKA_CLASS)
    result = {"rv": rv, "value": value.hex() if value is not None else None, "class": int.from_bytes(cls, sys.byteorder),
              "created": created}
    if sp800 is not None:
        keys = sp800.pAdditionalDerivedKeys
        result["additional"] = []
        for i in range(sp800.ulAdditionalDerivedKeys):
            h = keys[i].phKey.contents.value
            _, v = read(session, h, CKA_VALUE)
            result["additional"].append({"handle": h, "value": v.hex() if v is not None else None})
    return result


def main():
    cases = json.load(sys.stdin)
    check(lib.C_Initialize(None), "C_Initialize")
    slots = (ULONG * 8)()
    count = ULONG(8)
    check(lib.C_GetSlotList(BBOOL(1), slots, C.byref(count)), "C_GetSlotList")
    slot = slots[0]
    label = (C.c_ubyte * 32).from_buffer_copy(b"derive".ljust(32))
    so = SO_PIN.encode()
    check(lib.C_InitToken(ULONG(slot), so, ULONG(len(so)), label), "C_InitToken")
    session = ULONG()
    check(lib.C_OpenSession(ULONG(slot), ULONG(CKF_RW_SERIAL), None, None, C.byref(session)), "C_OpenSession")
    check(lib.C_Login(session, ULONG(CKU_SO), so, ULONG(len(so))), "C_Login(SO)")
    user = USER_PIN.encode()
    check(lib.C_InitPIN(session, user, ULONG(len(user))), "C_InitPIN")
    check(lib.C_Logout(session), "C_Logout")
    check(lib.C_Login(session, ULONG(CKU_USER), user, ULONG(len(user))), "C_Login(user)")
    results = [run_case(session, c) for c in cases]
    lib.C_Finalize(None)
    print(json.dumps(results))


main()
