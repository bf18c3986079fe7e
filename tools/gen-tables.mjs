#!/usr/bin/env node
// Generates the C and TypeScript views of the three tables in spec/:
//   pkcs11-constants.json  every CK* constant and each attribute's value kind
//   functions.json         every exported function and its wire signature
//   structs.json           every C structure that crosses the wire
// Outputs (not committed; `npm run gen` rebuilds them):
//   shim/generated/craton_constants.h, shim/generated/craton_table.h, shim/generated/craton_table.c
//   src/generated/constants.ts, src/generated/wire-table.ts
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const load = (name) => JSON.parse(readFileSync(join(root, 'spec', name), 'utf8'));
const constants = load('pkcs11-constants.json');
const functions = load('functions.json');
const structs = load('structs.json');

// ---------------------------------------------------------------- constants
const byName = new Map();
for (const [group, rows] of Object.entries(constants.groups)) {
  for (const [name, value] of rows) {
    if (byName.has(name) && byName.get(name) !== BigInt(value)) {
      throw new Error(`constant ${name} has two values`);
    }
    byName.set(name, BigInt(value));
  }
}
const valueOf = (name) => {
  const v = byName.get(name);
  if (v === undefined) throw new Error(`unknown constant ${name}`);
  return v;
};
const hex = (v) => '0x' + v.toString(16).toUpperCase();

// ---------------------------------------------------------------- argument kinds
// Each kind consumes a fixed number of C parameters; the order here is the wire enum.
const ARG_KINDS = {
  ulong: ['CK_ULONG'],
  bbool: ['CK_BBOOL'],
  in_bytes: ['CK_BYTE_PTR', 'CK_ULONG'],
  out_bytes: ['CK_BYTE_PTR', 'CK_ULONG_PTR'],
  out_fixed: ['CK_BYTE_PTR', 'CK_ULONG'],
  out_ulong: ['CK_ULONG_PTR'],
  out_ulongs: ['CK_ULONG_PTR', 'CK_ULONG_PTR'],
  out_handle_array: ['CK_ULONG_PTR', 'CK_ULONG', 'CK_ULONG_PTR'],
  in_template: ['CK_ATTRIBUTE_PTR', 'CK_ULONG'],
  get_template: ['CK_ATTRIBUTE_PTR', 'CK_ULONG'],
  mechanism: ['CK_MECHANISM_PTR'],
  out_struct: null, // one pointer to the named structure
  in_label32: ['CK_UTF8CHAR_PTR'],
  opaque_ptr: ['CK_VOID_PTR'],
  init_args: ['CK_VOID_PTR'],
  msg_param: ['CK_VOID_PTR', 'CK_ULONG'],
};
const ARG_KIND_IDS = Object.fromEntries(Object.keys(ARG_KINDS).map((k, i) => [k, i + 1]));
const MSG_OPS = ['encrypt', 'decrypt', 'sign', 'verify'];

// ---------------------------------------------------------------- structures
const FIELD_FORMS = ['ulong', 'bbool', 'version', 'chars', 'bytes', 'ptr', 'ptr_bits', 'ptr_fixed', 'struct_ptr', 'struct_array', 'template', 'choice_ptr', 'out_ulong'];
const structList = [
  ...Object.entries(structs.out).map(([name, fields]) => ({ name, role: 'out', fields })),
  ...Object.entries(structs.param).map(([name, fields]) => ({ name, role: 'param', fields })),
];
const structIds = new Map(structList.map((s, i) => [s.name, i]));
for (const s of structList) {
  s.fields = s.fields.map((text) => {
    const words = text.split(' ');
    const [formWithArg, name] = words;
    const [form, arg] = formWithArg.split(':');
    if (!FIELD_FORMS.includes(form)) throw new Error(`${s.name}: unknown field form ${form}`);
    // An out_ulong exists to be written: it is always a write-back target.
    const f = { form, name, inout: words.includes('inout') || form === 'out_ulong' };
    if (form === 'chars' || form === 'bytes' || form === 'ptr_fixed') f.size = Number(arg);
    if (form === 'ptr' || form === 'ptr_bits' || form === 'choice_ptr') f.lengthField = words[2];
    if (form === 'struct_array' || form === 'template') f.countField = words[2];
    if (form === 'struct_ptr' || form === 'struct_array') {
      if (!structIds.has(arg)) throw new Error(`${s.name}: unknown struct ${arg}`);
      f.struct = arg;
    }
    if (form === 'choice_ptr') {
      f.selector = words[3];
      f.choices = words.slice(4).map((pair) => {
        const [value, struct] = pair.split('=');
        if (!structIds.has(struct)) throw new Error(`${s.name}: unknown struct ${struct}`);
        return { value: valueOf(value), name: value, struct };
      }).sort((a, b) => (a.value < b.value ? -1 : 1));
    }
    return f;
  });
}
// Every field another field names (length, count, selector) must be a ulong of the same structure.
for (const s of structList) {
  for (const f of s.fields) {
    for (const ref of [f.lengthField, f.countField, f.selector].filter(Boolean)) {
      if (s.fields.find((g) => g.name === ref)?.form !== 'ulong') throw new Error(`${s.name}.${f.name}: ${ref} is not a ulong field`);
    }
  }
}
const mechanismStructs = (table) =>
  Object.entries(table)
    .flatMap(([struct, mechs]) => mechs.map((m) => ({ mech: valueOf(m), name: m, struct: structIds.get(struct) })))
    .sort((a, b) => (a.mech < b.mech ? -1 : a.mech > b.mech ? 1 : 0));
const paramMechs = mechanismStructs(structs.mechanisms);
const messageMechs = mechanismStructs(structs.message_mechanisms);

// ---------------------------------------------------------------- functions
const fnList = functions.functions.map((f) => ({
  ...f,
  args: (f.args ?? []).map((text) => {
    const [kindWithArg, name] = text.split(' ');
    const [kind, arg] = kindWithArg.split(':');
    if (!(kind in ARG_KINDS)) throw new Error(`${f.name}: unknown argument kind ${kind}`);
    const a = { kind, name };
    if (kind === 'out_struct') a.struct = arg;
    if (kind === 'msg_param') a.op = arg;
    return a;
  }),
}));
const cParams = (a) => (a.kind === 'out_struct' ? [`${a.struct} *`] : ARG_KINDS[a.kind]);

// ---------------------------------------------------------------- attribute kinds
const ATTR_KINDS = ['bytes', 'ulong', 'bool', 'string', 'bigint', 'date', 'attrs', 'mechs'];
const attrRows = constants.groups.CKA.map(([name, value, kind]) => {
  if (!ATTR_KINDS.includes(kind)) throw new Error(`${name}: unknown attribute kind ${kind}`);
  return { name, value: BigInt(value), kind };
});
const shimAttrKinds = [...new Map(attrRows.filter((r) => ['ulong', 'attrs', 'mechs'].includes(r.kind)).map((r) => [r.value, r])).values()]
  .sort((a, b) => (a.value < b.value ? -1 : 1));

// ================================================================ C output
const banner = '/* Generated by tools/gen-tables.mjs from the tables in spec/. Do not edit. */\n';
const out = [];
const emit = (path, text) => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  out.push(path);
};

{
  let h = banner + '#ifndef CRATON_CONSTANTS_H\n#define CRATON_CONSTANTS_H\n\n';
  for (const [group, rows] of Object.entries(constants.groups)) {
    h += `/* ${group} */\n`;
    for (const [name, value] of rows) h += `#define ${name} ((CK_ULONG)${hex(BigInt(value))}ULL)\n`;
    h += '\n';
  }
  h += '#endif\n';
  emit('shim/generated/craton_constants.h', h);
}

{
  let h = banner + `#ifndef CRATON_TABLE_H
#define CRATON_TABLE_H

#include "../cryptoki_abi.h"
#include "../wire_table_types.h"

`;
  h += '/* Structures, laid out by the platform compiler (1-byte packing on Windows, see cryptoki_abi.h). */\n';
  h += '#if defined(_WIN32)\n#pragma pack(push, cryptoki, 1)\n#endif\n';
  for (const s of structList) {
    h += `typedef struct ${s.name} {\n`;
    for (const f of s.fields) {
      switch (f.form) {
        case 'ulong': h += `  CK_ULONG ${f.name};\n`; break;
        case 'bbool': h += `  CK_BBOOL ${f.name};\n`; break;
        case 'version': h += `  CK_VERSION ${f.name};\n`; break;
        case 'chars': h += `  CK_UTF8CHAR ${f.name}[${f.size}];\n`; break;
        case 'bytes': h += `  CK_BYTE ${f.name}[${f.size}];\n`; break;
        case 'ptr': case 'ptr_bits': case 'ptr_fixed': h += `  CK_BYTE_PTR ${f.name};\n`; break;
        case 'struct_ptr': case 'struct_array': h += `  struct ${f.struct} *${f.name};\n`; break;
        case 'template': h += `  CK_ATTRIBUTE_PTR ${f.name};\n`; break;
        case 'choice_ptr': h += `  CK_VOID_PTR ${f.name};\n`; break;
        case 'out_ulong': h += `  CK_ULONG_PTR ${f.name};\n`; break;
      }
    }
    h += `} ${s.name};\n\n`;
  }
  h += '#if defined(_WIN32)\n#pragma pack(pop, cryptoki)\n#endif\n\n';

  h += '/* Argument kinds (wire enum). */\nenum craton_arg_kind {\n';
  for (const [k, id] of Object.entries(ARG_KIND_IDS)) h += `  CRATON_ARG_${k.toUpperCase()} = ${id},\n`;
  h += '};\n\n';
  h += '/* Structure ids (wire enum). */\nenum craton_struct_id {\n';
  structList.forEach((s, i) => { h += `  CRATON_STRUCT_${s.name} = ${i},\n`; });
  h += `  CRATON_STRUCT_COUNT = ${structList.length}\n};\n\n`;
  h += '/* Function ids (wire enum). */\nenum craton_function_id {\n';
  for (const f of fnList) h += `  CRATON_FN_${f.name} = ${f.id},\n`;
  h += '};\n\n';

  h += '/* Entry-point types and the function lists. */\n';
  for (const listName of Object.keys(functions.lists)) {
    const tag = listName === '2.40' ? 'CK_FUNCTION_LIST' : `CK_FUNCTION_LIST_${listName.replace('.', '_')}`;
    h += `typedef struct ${tag} ${tag};\n`;
  }
  for (const f of fnList) {
    const params = f.local ? localParams(f.name) : f.args.flatMap(cParams);
    h += `typedef CK_RV (*CK_${f.name})(${params.length ? params.join(', ') : 'void'});\n`;
  }
  for (const listName of Object.keys(functions.lists)) {
    const tag = listName === '2.40' ? 'CK_FUNCTION_LIST' : `CK_FUNCTION_LIST_${listName.replace('.', '_')}`;
    h += `\nstruct ${tag} {\n  CK_VERSION version;\n`;
    for (const f of fnList.filter((fn) => includedIn(fn, listName))) h += `  CK_${f.name} ${f.name};\n`;
    h += '};\n';
  }
  h += '\n/* Answered by the shim itself (module.c). */\n';
  for (const f of fnList.filter((fn) => fn.local)) h += `CRATON_EXPORT CK_RV ${f.name}(${localParams(f.name).join(', ')});\n`;
  h += `
extern const craton_function_desc craton_functions[];
extern const craton_struct_desc craton_structs[];
extern const craton_mech_struct craton_param_mechanisms[];
extern const size_t craton_param_mechanism_count;
extern const craton_mech_struct craton_message_mechanisms[];
extern const size_t craton_message_mechanism_count;
extern const craton_attr_kind craton_attribute_kinds[];
extern const size_t craton_attribute_kind_count;
extern const CK_FUNCTION_LIST craton_function_list_2_40;
extern const CK_FUNCTION_LIST_3_0 craton_function_list_3_0;

#endif
`;
  emit('shim/generated/craton_table.h', h);

  let c = banner + `#include <stddef.h>
#include "craton_table.h"
#include "craton_constants.h"
#include "../marshal.h"

`;
  for (const s of structList) {
    for (const f of s.fields.filter((g) => g.choices)) {
      c += `static const craton_mech_struct choices_${s.name}_${f.name}[] = {\n`;
      for (const ch of f.choices) c += `  { ${hex(ch.value)}UL, CRATON_STRUCT_${ch.struct} }, /* ${ch.name} */\n`;
      c += '};\n';
    }
    c += `static const craton_field_desc fields_${s.name}[] = {\n`;
    for (const f of s.fields) {
      const off = `offsetof(${s.name}, ${f.name})`;
      const form = `CRATON_FIELD_${f.form.toUpperCase()}`;
      let aux = '0';
      let aux2 = '0';
      if (f.size !== undefined) aux = String(f.size);
      if (f.lengthField) aux = `offsetof(${s.name}, ${f.lengthField})`;
      if (f.countField) aux = `offsetof(${s.name}, ${f.countField})`;
      if (f.struct) aux2 = `CRATON_STRUCT_${f.struct}`;
      const choice = f.choices
        ? `(uint16_t)offsetof(${s.name}, ${f.selector}), choices_${s.name}_${f.name}, ${f.choices.length}`
        : '0, NULL, 0';
      c += `  { ${form}, ${f.inout ? 1 : 0}, (uint16_t)${off}, (uint16_t)(${aux}), ${aux2}, ${choice} },\n`;
    }
    c += '};\n';
  }
  c += '\nconst craton_struct_desc craton_structs[] = {\n';
  for (const s of structList) c += `  { "${s.name}", sizeof(${s.name}), ${s.fields.length}, fields_${s.name} },\n`;
  c += '};\n\n';

  const mechTable = (name, rows) => {
    let t = `const craton_mech_struct ${name}[] = {\n`;
    for (const r of rows) t += `  { ${hex(r.mech)}UL, ${r.struct} }, /* ${r.name} */\n`;
    return t + `};\nconst size_t ${name.replace(/s$/, '')}_count = ${rows.length};\n\n`;
  };
  c += mechTable('craton_param_mechanisms', paramMechs);
  c += mechTable('craton_message_mechanisms', messageMechs);

  c += 'const craton_attr_kind craton_attribute_kinds[] = {\n';
  for (const r of shimAttrKinds) c += `  { ${hex(r.value)}UL, CRATON_ATTR_${r.kind.toUpperCase()} }, /* ${r.name} */\n`;
  c += `};\nconst size_t craton_attribute_kind_count = ${shimAttrKinds.length};\n\n`;

  for (const f of fnList.filter((fn) => !fn.local)) {
    c += `static const craton_arg_desc args_${f.name}[] = {\n`;
    for (const a of f.args) {
      const aux = a.kind === 'out_struct' ? `CRATON_STRUCT_${a.struct}` : a.kind === 'msg_param' ? String(MSG_OPS.indexOf(a.op)) : '0';
      c += `  { CRATON_ARG_${a.kind.toUpperCase()}, ${aux} },\n`;
    }
    c += '};\n';
  }
  c += '\nconst craton_function_desc craton_functions[] = {\n';
  c += '  { 0, NULL, 0, NULL, -1 },\n';
  for (const f of fnList) {
    const msgInit = f.msg_init ? MSG_OPS.indexOf(f.msg_init) : -1;
    c += f.local
      ? `  { ${f.id}, "${f.name}", 0, NULL, -1 },\n`
      : `  { ${f.id}, "${f.name}", ${f.args.length}, args_${f.name}, ${msgInit} },\n`;
  }
  c += '};\n\n';

  // Entry points: each packs the addresses of its parameters and hands them to the marshaller.
  const entry = (f, fname, iface) => {
    const params = f.args.flatMap(cParams);
    const decl = params.map((t, i) => `${t} a${i}`).join(', ');
    const argv = params.map((_, i) => `(void *)&a${i}`).join(', ');
    return `${fname === f.name ? 'CRATON_EXPORT ' : 'static '}CK_RV ${fname}(${decl})\n{\n` +
      `  void *argv[${Math.max(params.length, 1)}] = { ${argv || 'NULL'} };\n` +
      `  return craton_call(&craton_functions[CRATON_FN_${f.name}], argv, ${iface});\n}\n\n`;
  };
  for (const f of fnList.filter((fn) => !fn.local)) {
    c += entry(f, f.name, 'CRATON_IFACE_2_40');
    if (f.per_interface) c += entry(f, `${f.name}_3_0`, 'CRATON_IFACE_3_0');
  }

  for (const [listName, { major, minor }] of Object.entries(functions.lists)) {
    const tag = listName === '2.40' ? 'CK_FUNCTION_LIST' : `CK_FUNCTION_LIST_${listName.replace('.', '_')}`;
    const v = listName.replace('.', '_');
    c += `const ${tag} craton_function_list_${v} = {\n  { ${major}, ${minor} },\n`;
    for (const f of fnList.filter((fn) => includedIn(fn, listName))) {
      const impl = f.per_interface && listName !== '2.40' ? `${f.name}_${v}` : f.name;
      c += `  ${impl},\n`;
    }
    c += '};\n\n';
  }
  emit('shim/generated/craton_table.c', c);
}

function includedIn(fn, listName) {
  const order = Object.keys(functions.lists);
  return order.indexOf(fn.since) <= order.indexOf(listName);
}

function localParams(name) {
  switch (name) {
    case 'C_GetFunctionList': return ['CK_FUNCTION_LIST **'];
    case 'C_GetInterfaceList': return ['CK_INTERFACE_PTR', 'CK_ULONG_PTR'];
    case 'C_GetInterface': return ['CK_UTF8CHAR_PTR', 'CK_VERSION_PTR', 'CK_INTERFACE_PTR *', 'CK_FLAGS'];
    default: throw new Error(`no C signature for local function ${name}`);
  }
}

// ================================================================ TypeScript output
{
  const tsBanner = '// Generated by tools/gen-tables.mjs from the tables in spec/. Do not edit.\n';
  let t = tsBanner;
  const numberTs = (v) => (v > BigInt(Number.MAX_SAFE_INTEGER) ? `Number.MAX_SAFE_INTEGER /* ${hex(v)} */` : hex(v));
  for (const [group, rows] of Object.entries(constants.groups)) {
    t += `export const ${group} = {\n`;
    for (const [name, value] of rows) t += `  ${name}: ${numberTs(BigInt(value))},\n`;
    t += '} as const;\n\n';
  }
  t += '/** The value kind of every known attribute type. */\n';
  t += `export type AttributeKind = ${ATTR_KINDS.map((k) => `'${k}'`).join(' | ')};\n`;
  t += 'export const ATTRIBUTE_KINDS: ReadonlyMap<number, AttributeKind> = new Map([\n';
  for (const r of new Map(attrRows.map((r) => [r.value, r])).values()) t += `  [${hex(r.value)}, '${r.kind}'],\n`;
  t += ']);\n\n';
  t += '/** The preferred name of each value, per group (first name listed wins). */\n';
  t += 'export function constantName(group: Record<string, number>, value: number): string | undefined {\n';
  t += '  for (const [name, v] of Object.entries(group)) if (v === value) return name;\n  return undefined;\n}\n';
  emit('src/generated/constants.ts', t);

  let w = tsBanner;
  w += `export type ArgKind = ${Object.keys(ARG_KINDS).map((k) => `'${k}'`).join(' | ')};\n`;
  w += `export const ARG_KIND_IDS: Readonly<Record<ArgKind, number>> = ${JSON.stringify(ARG_KIND_IDS)};\n`;
  w += `export type MessageOp = ${MSG_OPS.map((o) => `'${o}'`).join(' | ')};\n`;
  w += 'export interface ArgDesc { readonly kind: ArgKind; readonly name: string; readonly struct?: number; readonly op?: MessageOp }\n';
  w += 'export interface FunctionDesc { readonly id: number; readonly name: string; readonly since: string; readonly local: boolean; readonly args: readonly ArgDesc[] }\n';
  w += `export type FieldForm = ${FIELD_FORMS.map((k) => `'${k}'`).join(' | ')};\n`;
  w += 'export interface FieldDesc { readonly form: FieldForm; readonly name: string; readonly inout: boolean; readonly size?: number; readonly lengthField?: string; readonly countField?: string; readonly struct?: number; readonly selector?: string; readonly choices?: Readonly<Record<number, number>> }\n';
  w += "export interface StructDesc { readonly id: number; readonly name: string; readonly role: 'out' | 'param'; readonly fields: readonly FieldDesc[] }\n\n";
  w += 'export const FUNCTIONS: readonly FunctionDesc[] = [\n';
  for (const f of fnList) {
    const args = f.args.map((a) => {
      const o = { kind: a.kind, name: a.name };
      if (a.struct) o.struct = structIds.get(a.struct);
      if (a.op) o.op = a.op;
      return o;
    });
    w += `  { id: ${f.id}, name: '${f.name}', since: '${f.since}', local: ${Boolean(f.local)}, args: ${JSON.stringify(args)} },\n`;
  }
  w += '];\n\n';
  w += 'export const STRUCTS: readonly StructDesc[] = [\n';
  structList.forEach((s, i) => {
    const fields = s.fields.map((f) => {
      const o = { form: f.form, name: f.name, inout: f.inout };
      if (f.size !== undefined) o.size = f.size;
      if (f.lengthField) o.lengthField = f.lengthField;
      if (f.countField) o.countField = f.countField;
      if (f.struct) o.struct = structIds.get(f.struct);
      if (f.selector) o.selector = f.selector;
      if (f.choices) o.choices = Object.fromEntries(f.choices.map((ch) => [Number(ch.value), structIds.get(ch.struct)]));
      return o;
    });
    w += `  { id: ${i}, name: '${s.name}', role: '${s.role}', fields: ${JSON.stringify(fields)} },\n`;
  });
  w += '];\n\n';
  w += `export const STRUCT_IDS: Readonly<Record<string, number>> = ${JSON.stringify(Object.fromEntries(structIds))};\n\n`;
  w += '/** Mechanism type -> id of its C_*Init parameter structure. */\n';
  w += `export const PARAM_MECHANISMS: ReadonlyMap<number, number> = new Map(${JSON.stringify(paramMechs.map((r) => [Number(r.mech), r.struct]))});\n`;
  w += '/** Mechanism type -> id of its per-message parameter structure. */\n';
  w += `export const MESSAGE_MECHANISMS: ReadonlyMap<number, number> = new Map(${JSON.stringify(messageMechs.map((r) => [Number(r.mech), r.struct]))});\n`;
  emit('src/generated/wire-table.ts', w);
}

console.log(`gen-tables: wrote ${out.join(', ')}`);
