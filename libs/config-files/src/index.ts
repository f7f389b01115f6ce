export { isConfigFileName, listConfigFiles, readConfigInputs, type ConfigText, type InputError, type ReadInputsResult } from './read.js';
export { loadConfigInputs, mergeLoadResults, type ConfigLoad } from './load.js';
