export { isConfigFileName, listConfigFiles, readConfigInputs, walkConfigDir, type ConfigDirListing, type ConfigFileEntry, type ConfigText, type InputError, type ReadInputsResult } from './read.js';
export { loadConfigInputs, mergeLoadResults, type ConfigLoad } from './load.js';
