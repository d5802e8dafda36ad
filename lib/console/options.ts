/** The console's options: defined in the config layer (the config's `console` section), lib/config/console-options.ts. */
export { CONSOLE_DEFAULTS, type ConsoleOptions } from '../config/console-options.js';
