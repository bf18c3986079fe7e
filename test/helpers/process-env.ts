/**
 * In-process consumers (pkcs11js, graphene) load the module into the test worker itself, and the
 * module reads its configuration from process.env at C_Initialize. These helpers point process.env
 * at a sandbox for the duration of a test and put it back afterwards.
 */

/** Copies every variable of `env` that differs from process.env into process.env; returns a function that undoes it. */
export function applyProcessEnv(env: NodeJS.ProcessEnv): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(env)) {
    if (process.env[key] === value) continue;
    saved.set(key, process.env[key]);
    if (value === undefined) {
      delete process.env[key];
    } else {
      process.env[key] = value;
    }
  }
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) {
        delete process.env[key];
      } else {
        process.env[key] = value;
      }
    }
  };
}

/** A token label as C_InitToken wants it: exactly 32 bytes, blank padded (pkcs11js passes the string as is). */
export function paddedLabel(label: string): string {
  return label.padEnd(32, ' ');
}
