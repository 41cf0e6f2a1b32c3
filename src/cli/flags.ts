import { Flags } from '@oclif/core'
import { taskStates } from '../core/task.js'

export const taskStateFlag = Flags.custom<string>({
  summary: 'Task state.',
  options: [...taskStates],
})

export const pageFlags = {
  limit: Flags.integer({ summary: 'Items per page (at most 200).', min: 1 }),
  cursor: Flags.string({ summary: 'Continue from the nextCursor of an earlier page.' }),
}
