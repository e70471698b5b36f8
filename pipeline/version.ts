/** Duet's version, recorded in manifests and exported models. */
export const duetVersion = "0.1.0";
