import type { Frame } from './frame-store.ts';

export type RiskLevel = 'LOW' | 'MEDIUM' | 'HIGH';

export interface Analysis {
  frames_analyzed: number;
  duration_seconds: number;
  /** mean absolute byte change between consecutive frames, 0..1 */
  motion_score: number;
  risk_level: RiskLevel;
  incident_detected: boolean;
  analysis: string;
}

/**
 * A deterministic stand-in for seed 01's AI analysis: how much consecutive frames differ,
 * sampled over at most 4 KiB of each. The real service would send the frames to its AI
 * provider with the server-held key, resolved from Keyplane's vault
 * (`POST /admin/v1/credentials/resolve`, policy `platform`); this example makes no network call.
 */
export function analyzeFrames(frames: readonly Frame[], fps = 25): Analysis {
  let total = 0;
  let pairs = 0;
  for (let i = 1; i < frames.length; i++) {
    const a = frames[i - 1]!.data;
    const b = frames[i]!.data;
    const n = Math.min(a.length, b.length, 4096);
    if (!n) continue;
    const step = Math.max(1, Math.floor(Math.min(a.length, b.length) / n));
    let diff = 0;
    for (let j = 0, k = 0; k < n; j += step, k++) diff += Math.abs(a[j]! - b[j]!);
    total += diff / (n * 255);
    pairs++;
  }
  const motion = pairs ? total / pairs : 0;
  const risk: RiskLevel = motion >= 0.3 ? 'HIGH' : motion >= 0.1 ? 'MEDIUM' : 'LOW';
  const score = Math.round(motion * 1000) / 1000;
  return {
    frames_analyzed: frames.length,
    duration_seconds: Math.round((frames.length / fps) * 100) / 100,
    motion_score: score,
    risk_level: risk,
    incident_detected: risk === 'HIGH',
    analysis:
      risk === 'HIGH'
        ? `sustained motion across ${frames.length} frames (score ${score}): review the footage`
        : `no incident in ${frames.length} frames (motion score ${score})`,
  };
}
