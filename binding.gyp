{
  # Craton HSM native crypto addon.
  #
  # Which libcrypto to link is chosen with one variable:
  #   craton_crypto_lib%  "openssl" (default): the system OpenSSL 3 libcrypto.
  #                       On Linux its static libcrypto.a (Debian libssl-dev)
  #                       is linked in with its symbols hidden, as for AWS-LC:
  #                       the addon then has its own OpenSSL, which neither the
  #                       OpenSSL a `node` binary exports nor a host process's
  #                       engines and configuration can reach (an OpenSSL host
  #                       that made an engine its default would otherwise get
  #                       our key imports).  Elsewhere -lcrypto.
  #                       "awslc": a static AWS-LC libcrypto.a found under
  #                       craton_awslc_root (absolute), linked in with its
  #                       symbols hidden.  `npm run build:addon:awslc` builds
  #                       AWS-LC (tools/build-awslc.sh) and this variant into
  #                       build-awslc/Release/, leaving build/ alone.
  # e.g.  node-gyp rebuild -- -Dcraton_crypto_lib=awslc -Dcraton_awslc_root=/opt/aws-lc
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
      # File locks and OS entropy (native/os/os.c): what Node itself lacks.
      'target_name': 'craton_os',
      'sources': [ 'native/os/os.c' ],
      'include_dirs!': [ '<(node_root_dir)/include/node' ],
      'include_dirs': [ '<(node_root_dir)/include' ],
      'defines': [ 'NAPI_VERSION=8', '_GNU_SOURCE' ],
      'cflags_c': [ '-std=c11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fvisibility=hidden' ],
      'conditions': [ ['OS=="win"', { 'libraries': [ '-lbcrypt' ] }] ],
    },
    {
      'target_name': 'craton_crypto',
      'sources': [
        'native/crypto/init.c',
        'native/crypto/util.c',
        'native/crypto/digest.c',
        'native/crypto/random.c',
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
              'libraries': [ '<!(pkg-config --variable=libdir libcrypto)/libcrypto.a', '-ldl', '-lpthread' ],
              'ldflags': [ '-Wl,--exclude-libs,ALL', '-Wl,-Bsymbolic' ],
            }],
            ['OS=="mac"', {
              'libraries': [ '-lcrypto' ],
            }],
          ],
        }],
        ['craton_crypto_lib=="awslc"', {
          # A static AWS-LC (tools/build-awslc.sh): headers and libcrypto.a
          # from craton_awslc_root (an absolute path).  The library's symbols
          # are kept out of the dynamic symbol table (--exclude-libs,ALL
          # makes every archive member's symbols local, -Bsymbolic binds the
          # addon's own references inside the addon), so they can neither
          # interpose nor be interposed by the OpenSSL a `node` binary
          # exports; only the addon's Node-API entry points stay visible.
          'defines': [ 'CRATON_CRYPTO_LIB_AWSLC=1' ],
          # node's common.gypi defines OPENSSL_THREADS (for its own OpenSSL);
          # AWS-LC's headers define it themselves.
          'defines!': [ 'OPENSSL_THREADS' ],
          'include_dirs': [ '<(craton_awslc_root)/include' ],
          'libraries': [ '<(craton_awslc_root)/lib/libcrypto.a', '-lpthread' ],
          'ldflags': [ '-Wl,--exclude-libs,ALL', '-Wl,-Bsymbolic' ],
        }],
      ],
    },
  ],
}
