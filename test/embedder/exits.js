'use strict';
// Calls process.exit() while loading: start must fail and the host must not exit.
process.exit(3);
