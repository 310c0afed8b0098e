import * as assert from 'uvu/assert';
import { type Decider, type DomainEvent, fold } from '../../src/domain/decider.ts';
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.ts';

/** given events / when command / then events or error: decider tests read as specifications. */
export const specFor =
  <Command, Event extends DomainEvent, State>(decider: Decider<Command, Event, State>) =>
  (given: Event[]) => ({
    when: (command: Command) => ({
      then: (expected: Event[]) => assert.equal(decider.decide(command, fold(decider, given)), expected),
      thenFails: (code: DomainErrorCode) => {
        try {
          decider.decide(command, fold(decider, given));
        } catch (error) {
          assert.instance(error, DomainError);
          assert.is((error as DomainError).code, code);
          return;
        }
        assert.unreachable(`expected ${code}`);
      },
    }),
  });
