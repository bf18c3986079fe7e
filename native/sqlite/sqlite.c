/*
 * craton_sqlite - a small synchronous Node-API binding over the system
 * libsqlite3, for the token store. Synchronous on purpose: every store
 * operation is one short transaction, and a store call must be complete
 * (durable) before the PKCS#11 call that made it returns.
 *
 *   open(path, readonly) -> Db          close(db)      finalize(stmt)
 *   exec(db, sql)                       prepare(db, sql) -> Stmt
 *   run(stmt, params) -> changes        all(stmt, params) -> rows (arrays)
 *   get(stmt, params) -> row | undefined
 *
 * Values: null, number (integers up to 2^53, doubles), string, Uint8Array.
 * Errors are thrown with .code = "SQLITE_BUSY", "SQLITE_CORRUPT", ... and
 * .errno = the extended result code.
 */
#define NAPI_VERSION 8
#include <node/node_api.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const napi_type_tag DB_TAG = {0x6372746e64623031ULL, 0x73716c6974650001ULL};
static const napi_type_tag STMT_TAG = {0x6372746e73746d31ULL, 0x73716c6974650002ULL};

typedef struct db_handle {
  sqlite3 *db;
} db_handle;

typedef struct stmt_handle {
  sqlite3_stmt *stmt;
} stmt_handle;

static const char *code_name(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    case SQLITE_PERM: return "SQLITE_PERM";
    default: return "SQLITE_ERROR";
  }
}

static void throw_code(napi_env env, int rc, const char *message) {
  napi_value msg, code, errno_v, err;
  char text[512];
  snprintf(text, sizeof text, "%s (%s)", message, code_name(rc));
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_string_utf8(env, code_name(rc), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_int32(env, rc, &errno_v) != napi_ok || napi_create_error(env, NULL, msg, &err) != napi_ok)
    return;
  napi_set_named_property(env, err, "code", code);
  napi_set_named_property(env, err, "errno", errno_v);
  napi_throw(env, err);
}

static void throw_db(napi_env env, sqlite3 *db, int rc) { throw_code(env, sqlite3_extended_errcode(db) ? sqlite3_extended_errcode(db) : rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)); }

static bool args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < n) {
    throw_code(env, SQLITE_MISUSE, "missing arguments");
    return false;
  }
  return true;
}

static void *unwrap(napi_env env, napi_value v, const napi_type_tag *tag) {
  bool ok = false;
  void *p = NULL;
  if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok || napi_get_value_external(env, v, &p) != napi_ok) {
    throw_code(env, SQLITE_MISUSE, "not a handle of the right kind");
    return NULL;
  }
  return p;
}

static void finalize_db(napi_env env, void *data, void *hint) {
  db_handle *h = data;
  if (h->db) sqlite3_close_v2(h->db);
  free(h);
}

static void finalize_stmt(napi_env env, void *data, void *hint) {
  stmt_handle *h = data;
  if (h->stmt) sqlite3_finalize(h->stmt);
  free(h);
}

static napi_value wrap(napi_env env, void *p, napi_finalize fin, const napi_type_tag *tag) {
  napi_value v;
  if (napi_create_external(env, p, fin, NULL, &v) != napi_ok || napi_type_tag_object(env, v, tag) != napi_ok) {
    fin(env, p, NULL);
    return NULL;
  }
  return v;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[4096];
  size_t len;
  bool readonly = false;
  if (!args(env, info, 2, argv)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) {
    throw_code(env, SQLITE_MISUSE, "path must be a string");
    return NULL;
  }
  napi_get_value_bool(env, argv[1], &readonly);
  db_handle *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_FULLMUTEX;
  int rc = sqlite3_open_v2(path, &h->db, flags, NULL);
  if (rc != SQLITE_OK) {
    throw_db(env, h->db, rc);
    finalize_db(env, h, NULL);
    return NULL;
  }
  sqlite3_extended_result_codes(h->db, 1);
  return wrap(env, h, finalize_db, &DB_TAG);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return NULL;
  db_handle *h = unwrap(env, argv[0], &DB_TAG);
  if (h && h->db) {
    sqlite3_close_v2(h->db);
    h->db = NULL;
  }
  return NULL;
}

/* finalize(stmt): releases a statement now rather than at garbage collection,
 * so that close() can really close (and checkpoint) the database. */
static napi_value js_finalize(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return NULL;
  stmt_handle *h = unwrap(env, argv[0], &STMT_TAG);
  if (h && h->stmt) {
    sqlite3_finalize(h->stmt);
    h->stmt = NULL;
  }
  return NULL;
}

static sqlite3 *open_db(napi_env env, napi_value v) {
  db_handle *h = unwrap(env, v, &DB_TAG);
  if (h && !h->db) throw_code(env, SQLITE_MISUSE, "database is closed");
  return h ? h->db : NULL;
}

static bool get_sql(napi_env env, napi_value v, char **sql) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    throw_code(env, SQLITE_MISUSE, "SQL must be a string");
    return false;
  }
  *sql = malloc(len + 1);
  if (!*sql) return false;
  napi_get_value_string_utf8(env, v, *sql, len + 1, &len);
  return true;
}

static napi_value js_exec(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char *sql = NULL;
  if (!args(env, info, 2, argv)) return NULL;
  sqlite3 *db = open_db(env, argv[0]);
  if (!db || !get_sql(env, argv[1], &sql)) return NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  free(sql);
  if (rc != SQLITE_OK) throw_db(env, db, rc);
  return NULL;
}

static napi_value js_prepare(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char *sql = NULL;
  if (!args(env, info, 2, argv)) return NULL;
  sqlite3 *db = open_db(env, argv[0]);
  if (!db || !get_sql(env, argv[1], &sql)) return NULL;
  stmt_handle *h = calloc(1, sizeof *h);
  if (!h) {
    free(sql);
    return NULL;
  }
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &h->stmt, NULL);
  free(sql);
  if (rc != SQLITE_OK) {
    throw_db(env, db, rc);
    free(h);
    return NULL;
  }
  return wrap(env, h, finalize_stmt, &STMT_TAG);
}

/* Binds params (an array) to a reset statement. */
static sqlite3_stmt *bind(napi_env env, napi_value stmt_v, napi_value params) {
  stmt_handle *h = unwrap(env, stmt_v, &STMT_TAG);
  if (!h) return NULL;
  if (!h->stmt) {
    throw_code(env, SQLITE_MISUSE, "statement is finalized");
    return NULL;
  }
  sqlite3_stmt *s = h->stmt;
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  uint32_t n = 0;
  if (napi_get_array_length(env, params, &n) != napi_ok) {
    throw_code(env, SQLITE_MISUSE, "parameters must be an array");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_valuetype t;
    int rc = SQLITE_OK;
    if (napi_get_element(env, params, i, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return NULL;
    bool is_typed = false;
    napi_is_typedarray(env, v, &is_typed);
    if (t == napi_null || t == napi_undefined) {
      rc = sqlite3_bind_null(s, (int)i + 1);
    } else if (t == napi_number) {
      double d;
      napi_get_value_double(env, v, &d);
      if (d == (double)(int64_t)d) rc = sqlite3_bind_int64(s, (int)i + 1, (int64_t)d);
      else rc = sqlite3_bind_double(s, (int)i + 1, d);
    } else if (t == napi_string) {
      size_t len;
      napi_get_value_string_utf8(env, v, NULL, 0, &len);
      char *text = malloc(len + 1);
      if (!text) return NULL;
      napi_get_value_string_utf8(env, v, text, len + 1, &len);
      rc = sqlite3_bind_text(s, (int)i + 1, text, (int)len, free);
    } else if (is_typed) {
      napi_typedarray_type type;
      size_t len, offset;
      void *data;
      napi_value ab;
      napi_get_typedarray_info(env, v, &type, &len, &data, &ab, &offset);
      rc = sqlite3_bind_blob(s, (int)i + 1, len ? data : "", (int)len, SQLITE_TRANSIENT);
    } else {
      throw_code(env, SQLITE_MISUSE, "unsupported parameter type");
      return NULL;
    }
    if (rc != SQLITE_OK) {
      throw_db(env, sqlite3_db_handle(s), rc);
      return NULL;
    }
  }
  return s;
}

static napi_value row_of(napi_env env, sqlite3_stmt *s) {
  int cols = sqlite3_column_count(s);
  napi_value row;
  if (napi_create_array_with_length(env, (size_t)cols, &row) != napi_ok) return NULL;
  for (int c = 0; c < cols; c++) {
    napi_value v = NULL;
    switch (sqlite3_column_type(s, c)) {
      case SQLITE_INTEGER: napi_create_double(env, (double)sqlite3_column_int64(s, c), &v); break;
      case SQLITE_FLOAT: napi_create_double(env, sqlite3_column_double(s, c), &v); break;
      case SQLITE_TEXT:
        napi_create_string_utf8(env, (const char *)sqlite3_column_text(s, c), (size_t)sqlite3_column_bytes(s, c), &v);
        break;
      case SQLITE_BLOB: {
        size_t len = (size_t)sqlite3_column_bytes(s, c);
        void *data = NULL;
        napi_value ab;
        if (napi_create_arraybuffer(env, len, &data, &ab) != napi_ok) return NULL;
        if (len) memcpy(data, sqlite3_column_blob(s, c), len);
        napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &v);
        break;
      }
      default: napi_get_null(env, &v);
    }
    if (!v || napi_set_element(env, row, (uint32_t)c, v) != napi_ok) return NULL;
  }
  return row;
}

/* Steps to completion, collecting up to `limit` rows (0 = none wanted). */
static napi_value step(napi_env env, napi_callback_info info, int mode) {
  napi_value argv[2], rows = NULL, result = NULL;
  if (!args(env, info, 2, argv)) return NULL;
  sqlite3_stmt *s = bind(env, argv[0], argv[1]);
  if (!s) return NULL;
  if (mode == 2 && napi_create_array(env, &rows) != napi_ok) return NULL;
  uint32_t count = 0;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (mode == 1) {
      result = row_of(env, s);
      rc = SQLITE_DONE;
      break;
    }
    if (mode == 2) {
      napi_value row = row_of(env, s);
      if (!row || napi_set_element(env, rows, count++, row) != napi_ok) {
        sqlite3_reset(s);
        return NULL;
      }
    }
  }
  if (rc != SQLITE_DONE) {
    throw_db(env, sqlite3_db_handle(s), rc);
    sqlite3_reset(s);
    return NULL;
  }
  int changes = sqlite3_changes(sqlite3_db_handle(s));
  sqlite3_reset(s);
  if (mode == 0) napi_create_int32(env, changes, &result);
  if (mode == 2) result = rows;
  if (!result) napi_get_undefined(env, &result);
  return result;
}

static napi_value js_run(napi_env env, napi_callback_info info) { return step(env, info, 0); }
static napi_value js_get(napi_env env, napi_callback_info info) { return step(env, info, 1); }
static napi_value js_all(napi_env env, napi_callback_info info) { return step(env, info, 2); }

static napi_value js_version(napi_env env, napi_callback_info info) {
  napi_value v;
  napi_create_string_utf8(env, sqlite3_libversion(), NAPI_AUTO_LENGTH, &v);
  return v;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finalize", NULL, js_finalize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exec", NULL, js_exec, NULL, NULL, NULL, napi_enumerable, NULL},
      {"prepare", NULL, js_prepare, NULL, NULL, NULL, napi_enumerable, NULL},
      {"run", NULL, js_run, NULL, NULL, NULL, napi_enumerable, NULL},
      {"get", NULL, js_get, NULL, NULL, NULL, napi_enumerable, NULL},
      {"all", NULL, js_all, NULL, NULL, NULL, napi_enumerable, NULL},
      {"version", NULL, js_version, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
