/** How the module names itself in CK_INFO, CK_SLOT_INFO and CK_TOKEN_INFO. */
import packageJson from '../../package.json';

export const MANUFACTURER = 'Craton HSM';

const [major = 0, minor = 0] = packageJson.version.split('.').map(Number);
export const LIBRARY_VERSION = { major, minor };
