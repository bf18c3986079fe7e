'use strict';
// Never returns from loading: start must time out, and stop must interrupt the loop.
for (;;) {}
