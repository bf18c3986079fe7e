/* The PKCS#11 C ABI as the shim needs it: base types and the few structures the
 * marshaller touches directly. Field layouts follow the OASIS specification;
 * Windows packs every structure to 1 byte and has a 32-bit CK_ULONG. */
#ifndef CRATON_CRYPTOKI_ABI_H
#define CRATON_CRYPTOKI_ABI_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define CRATON_EXPORT __declspec(dllexport)
#pragma pack(push, cryptoki, 1)
#else
#define CRATON_EXPORT __attribute__((visibility("default")))
#endif

typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_CHAR;
typedef CK_BYTE CK_UTF8CHAR;
typedef CK_BYTE CK_BBOOL;
typedef unsigned long int CK_ULONG;
typedef long int CK_LONG;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_RV;
typedef void *CK_VOID_PTR;
typedef CK_BYTE *CK_BYTE_PTR;
typedef CK_UTF8CHAR *CK_UTF8CHAR_PTR;
typedef CK_ULONG *CK_ULONG_PTR;

typedef struct CK_VERSION {
  CK_BYTE major;
  CK_BYTE minor;
} CK_VERSION;
typedef CK_VERSION *CK_VERSION_PTR;

typedef struct CK_ATTRIBUTE {
  CK_ULONG type;
  CK_VOID_PTR pValue;
  CK_ULONG ulValueLen;
} CK_ATTRIBUTE;
typedef CK_ATTRIBUTE *CK_ATTRIBUTE_PTR;

typedef struct CK_MECHANISM {
  CK_ULONG mechanism;
  CK_VOID_PTR pParameter;
  CK_ULONG ulParameterLen;
} CK_MECHANISM;
typedef CK_MECHANISM *CK_MECHANISM_PTR;

typedef CK_RV (*CK_CREATEMUTEX)(CK_VOID_PTR *ppMutex);
typedef CK_RV (*CK_DESTROYMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_LOCKMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_UNLOCKMUTEX)(CK_VOID_PTR pMutex);

typedef struct CK_C_INITIALIZE_ARGS {
  CK_CREATEMUTEX CreateMutex;
  CK_DESTROYMUTEX DestroyMutex;
  CK_LOCKMUTEX LockMutex;
  CK_UNLOCKMUTEX UnlockMutex;
  CK_FLAGS flags;
  CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;

typedef struct CK_INTERFACE {
  CK_UTF8CHAR_PTR pInterfaceName;
  CK_VOID_PTR pFunctionList;
  CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;

#if defined(_WIN32)
#pragma pack(pop, cryptoki)
#endif

/* The few return values the shim produces itself: transport failures and
 * arguments it cannot even encode. Everything else comes from the runtime. */
#define CRATON_RV_OK ((CK_RV)0x00000000UL)
#define CRATON_RV_HOST_MEMORY ((CK_RV)0x00000002UL)
#define CRATON_RV_GENERAL_ERROR ((CK_RV)0x00000005UL)
#define CRATON_RV_ARGUMENTS_BAD ((CK_RV)0x00000007UL)
#define CRATON_RV_DEVICE_ERROR ((CK_RV)0x00000030UL)
#define CRATON_RV_BUFFER_TOO_SMALL ((CK_RV)0x00000150UL)
#define CRATON_RV_CRYPTOKI_NOT_INITIALIZED ((CK_RV)0x00000190UL)
#define CRATON_RV_CRYPTOKI_ALREADY_INITIALIZED ((CK_RV)0x00000191UL)
#define CRATON_RV_FUNCTION_NOT_SUPPORTED ((CK_RV)0x00000054UL)
#define CRATON_UNAVAILABLE_INFORMATION ((CK_ULONG)~0UL)

#endif
