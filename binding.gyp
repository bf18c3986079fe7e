{
  # Craton HSM native crypto addon.
  #
  # Which libcrypto to link is chosen with one variable:
  #   craton_crypto_lib%  "openssl" (default): the system OpenSSL 3 libcrypto,
  #                       linked dynamically (-lcrypto, libcrypto.so.3).
  #                       "awslc": a static AWS-LC libcrypto.a found under
  #                       craton_awslc_root (NOT IMPLEMENTED YET: the branch
  #                       below is a placeholder for that change).
  # e.g.  npx node-gyp rebuild -- -Dcraton_crypto_lib=awslc -Dcraton_awslc_root=/opt/aws-lc
  #
  # Only Node-API (NAPI_VERSION 8) is used, so the same .node loads in Node 18
  # (Debian libnode, embedded) and Node 20.
  'variables': {
    'craton_crypto_lib%': 'openssl',
    'craton_awslc_root%': '',
  },
  'targets': [
    {
      # The token store's SQLite binding, over the system libsqlite3.
      'target_name': 'craton_sqlite',
      'sources': [ 'native/sqlite/sqlite.c' ],
      'include_dirs!': [ '<(node_root_dir)/include/node' ],
      'include_dirs': [ '<(node_root_dir)/include' ],
      'defines': [ 'NAPI_VERSION=8' ],
      'cflags_c': [ '-std=c11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fvisibility=hidden' ],
      'libraries': [ '-lsqlite3' ],
    },
    {
      'target_name': 'craton_crypto',
      'sources': [
        'native/crypto/init.c',
        'native/crypto/util.c',
        'native/crypto/digest.c',
        'native/crypto/random.c',
        'native/crypto/kdf.c',
        'native/crypto/aead.c',
        'native/crypto/symmetric.c',
        'native/crypto/asymmetric.c',
      ],
      # node-gyp puts <node_root_dir>/include/node first on the include path;
      # that directory also carries node's bundled OpenSSL headers, which
      # would shadow the headers of the libcrypto we link.  Drop it (and the
      # other node-internal dirs) and reach node_api.h as <node/node_api.h>.
      'include_dirs!': [
        '<(node_root_dir)/include/node',
        '<(node_root_dir)/src',
        '<(node_root_dir)/deps/openssl/config',
        '<(node_root_dir)/deps/openssl/openssl/include',
        '<(node_root_dir)/deps/uv/include',
        '<(node_root_dir)/deps/zlib',
        '<(node_root_dir)/deps/v8/include',
      ],
      'include_dirs': [
        '<(node_root_dir)/include',
      ],
      'defines': [
        'NAPI_VERSION=8',
        '_GNU_SOURCE',
      ],
      'cflags_c': [
        '-std=c11',
        '-Wall',
        '-Wextra',
        '-Wno-unused-parameter',
        '-fvisibility=hidden',
      ],
      'conditions': [
        ['craton_crypto_lib=="openssl"', {
          'defines': [
            'CRATON_CRYPTO_LIB_OPENSSL=1',
            'OPENSSL_API_COMPAT=30000',
            'OPENSSL_NO_DEPRECATED',
          ],
          'conditions': [
            ['OS=="linux"', {
              'libraries': [ '-lcrypto', '-ldl' ],
            }],
            ['OS=="mac"', {
              'libraries': [ '-lcrypto' ],
            }],
          ],
        }],
        ['craton_crypto_lib=="awslc"', {
          # Placeholder for the static AWS-LC build (not implemented yet):
          # headers and libcrypto.a from craton_awslc_root, with the
          # library's symbols kept out of the dynamic symbol table so they
          # can neither interpose nor be interposed.
          'defines': [ 'CRATON_CRYPTO_LIB_AWSLC=1' ],
          'include_dirs': [ '<(craton_awslc_root)/include' ],
          'libraries': [ '<(craton_awslc_root)/lib/libcrypto.a' ],
          'ldflags': [ '-Wl,--exclude-libs,ALL', '-Wl,-Bsymbolic' ],
        }],
      ],
    },
  ],
}
