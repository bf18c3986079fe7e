/* Descriptor types the generated table (generated/craton_table.c) is made of. */
#ifndef CRATON_WIRE_TABLE_TYPES_H
#define CRATON_WIRE_TABLE_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include "cryptoki_abi.h"

enum craton_field_form {
  CRATON_FIELD_ULONG,
  CRATON_FIELD_BBOOL,
  CRATON_FIELD_VERSION,
  CRATON_FIELD_CHARS,
  CRATON_FIELD_BYTES,
  CRATON_FIELD_PTR,
  CRATON_FIELD_PTR_BITS,
  CRATON_FIELD_PTR_FIXED,
  CRATON_FIELD_STRUCT_PTR,
  CRATON_FIELD_STRUCT_ARRAY, /* pointer to `count` structures */
  CRATON_FIELD_TEMPLATE,     /* CK_ATTRIBUTE_PTR with `count` attributes */
  CRATON_FIELD_CHOICE_PTR,   /* untyped pointer: a structure chosen by a selector field, else raw bytes */
  CRATON_FIELD_OUT_ULONG     /* CK_ULONG_PTR the module writes one value into */
};

/* How the shim converts an attribute value; every other attribute is raw bytes. */
enum craton_attr_value_kind {
  CRATON_ATTR_RAW = 0,
  CRATON_ATTR_ULONG = 1,
  CRATON_ATTR_ATTRS = 2,
  CRATON_ATTR_MECHS = 3
};

/* A value -> structure id pair: which structure a mechanism takes, or which
 * structure a choice_ptr points to for a value of its selector field.
 * Tables of them are sorted by value. */
typedef struct craton_mech_struct {
  CK_ULONG mechanism;
  uint16_t struct_id;
} craton_mech_struct;

typedef struct craton_field_desc {
  uint8_t form;   /* enum craton_field_form */
  uint8_t inout;  /* the module may write back into this pointer */
  uint16_t offset;
  uint16_t aux;   /* length-field offset (ptr, ptr_bits, choice_ptr), count-field offset (struct_array,
                     template) or size (chars, bytes, ptr_fixed) */
  uint16_t nested; /* struct id for struct_ptr and struct_array */
  uint16_t selector; /* choice_ptr: offset of the ulong field that chooses the pointee */
  const craton_mech_struct *choices; /* choice_ptr: selector value -> struct id, sorted */
  uint16_t choice_count;
} craton_field_desc;

typedef struct craton_struct_desc {
  const char *name;
  size_t size;
  size_t field_count;
  const craton_field_desc *fields;
} craton_struct_desc;

typedef struct craton_arg_desc {
  uint8_t kind;  /* enum craton_arg_kind */
  uint8_t aux;   /* struct id (out_struct) or message op (msg_param) */
} craton_arg_desc;

typedef struct craton_function_desc {
  uint32_t id;
  const char *name;
  size_t arg_count;
  const craton_arg_desc *args;
  int msg_init; /* message op this function initialises, or -1 */
} craton_function_desc;

typedef struct craton_attr_kind {
  CK_ULONG type;
  uint8_t kind; /* enum craton_attr_value_kind */
} craton_attr_kind;

#endif
