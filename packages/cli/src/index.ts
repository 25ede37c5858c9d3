export { buildProgram, main } from './main.js';
export { CliError, describeError } from './errors.js';
