// The repair engine: crash report → prompt → model → parsed, validated patch → (accept) atomic write.
//
//   const model = resolveModelConfig({ model: flags.model, baseUrl: flags.baseUrl, apiKeyEnv: flags.apiKeyEnv });
//   const result = await proposeRepair(crash.report, { root, python, logDir: runDir, repairNumber: n, model },
//                                      { signal, onProgress, previousAttempts });
//   if (result.ok) {
//     show(result.repair.explanation, colorizeDiff(repairDiff(result.repair), isTTY));
//     if (accepted) {
//       const applied = await applyRepair(result.repair, runDir);   // applied.files → agent `patch` message
//     } else {
//       previousAttempts = [...result.attempts, { attempt: result.repair.attempt, repair: result.repair,
//                            failure: { kind: 'rejected', message: userComment } }];
//     }
//   }
//   // the repaired program crashed again → pass { repair, applied: true, failure: { kind: 'crash', message: traceback } }
//   await undoLastRepair(runDir);                                     // restores the originals (refuses if edited since)
//
// Errors: AxolotlError (config: no key; ModelError: server unreachable/refused/timeout; apply/undo
// refusals) carry a message for the user; RepairCancelledError when the signal aborts.
export * from './types';
export { resolveModelConfig, describeModelConfig, configFilePath, isLocalEndpoint, DEFAULT_MODEL, type ModelOptions, type ConfigFileContents } from './config';
export { redact, redactSecretAssignments, isSecretName } from './redact';
export { ModelClient, ModelError, RepairCancelledError, type ChatModel, type ModelReply, type CompletionOptions, type ModelClientOptions } from './modelClient';
export { buildPrompt, estimateTokens, SYSTEM_PROMPT, type PromptInput, type BuiltPrompt, type PromptFile } from './prompt';
export { parseReply, ReplyError, NO_USABLE_REPAIR, type ParsedReply, type ReplyEdit } from './replyParser';
export { resolveEdits, type SourceFile, type EditContext, type EditedFile, type ResolvedEdits } from './edits';
export { validateRepair, type ProposedFile, type ValidationContext, type ValidationResult } from './validate';
export { proposeRepair, type RepairContext, type ProposeOptions } from './repairLoop';
export { applyRepair, undoLastRepair, listRepairs, sha256, type AppliedRepair, type UndoResult, type ApplyOptions, type UndoOptions } from './applyRepair';
export { fileDiff, repairDiff, colorizeDiff, diffStat } from './diffView';
