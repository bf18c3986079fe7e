/** Every C_* handler, wired to one module instance. */
import { Dispatcher } from '../dispatch/dispatcher';
import { CratonModule } from '../module/module';
import { digestFunctions } from './digest';
import { generalFunctions } from './general';
import { objectFunctions } from './object-management';
import { randomFunctions } from './random';
import { sessionFunctions } from './session-management';

export function createDispatcher(module = new CratonModule()): Dispatcher {
  const d = new Dispatcher();
  for (const group of [generalFunctions, sessionFunctions, objectFunctions, digestFunctions, randomFunctions]) d.register(group(module));
  return d;
}
