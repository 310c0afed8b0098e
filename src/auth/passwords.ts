import bcrypt from 'bcryptjs';

export type PasswordHasher = {
  hash(password: string): Promise<string>;
  /** Compares against `hash`, or against a dummy hash when there is none, so timing tells nothing. */
  verify(password: string, hash: string | undefined): Promise<boolean>;
};

/** bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut. */
export const MAX_PASSWORD_BYTES = 72;
export const MIN_PASSWORD_BYTES = 8;

export function createBcryptHasher(cost: number): PasswordHasher {
  // Same cost as real hashes, so a check against it takes as long as a real one.
  const dummyHash = bcrypt.hashSync('not a password of anyone', cost);
  return {
    hash: (password) => bcrypt.hash(password, cost),
    verify: async (password, hash) => {
      const matches = await bcrypt.compare(password, hash ?? dummyHash);
      return hash !== undefined && matches;
    },
  };
}
