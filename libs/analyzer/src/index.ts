export { analyze, atLeast, formatMessage, LEVELS, MessageTypes, type AnalysisMessage, type AnalysisObject, type Level, type MessageType } from './analyze.js';
