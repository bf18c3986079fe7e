'use strict';
// Never calls setHandler and has nothing pending.
module.exports = 1;
