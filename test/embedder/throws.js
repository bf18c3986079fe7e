'use strict';
// Throws while being loaded: craton_embedder_start must return -1, the host must survive.
throw new Error('craton test: bundle failed to load');
