/** Every C_* handler, wired to one module instance. */
import { Dispatcher } from '../dispatch/dispatcher';
import { CratonModule } from '../module/module';
import { digestFunctions } from './digest';
import { dualFunctions } from './dual-function';
import { encryptionFunctions } from './encryption';
import { generalFunctions } from './general';
import { keyManagementFunctions } from './key-management';
import { messageEncryptionFunctions } from './message-encryption';
import { objectFunctions } from './object-management';
import { randomFunctions } from './random';
import { sessionFunctions } from './session-management';
import { signingFunctions } from './signing';

export function createDispatcher(module = new CratonModule()): Dispatcher {
  const d = new Dispatcher();
  module.host = () => d.abi;
  d.observer = (call) => module.audited(call);
  const groups = [
    generalFunctions,
    sessionFunctions,
    objectFunctions,
    digestFunctions,
    encryptionFunctions,
    messageEncryptionFunctions,
    signingFunctions,
    dualFunctions,
    keyManagementFunctions,
    randomFunctions,
  ];
  for (const group of groups) d.register(group(module));
  return d;
}
