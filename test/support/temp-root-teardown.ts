import { teardown } from './temp-root.ts';

export default teardown;
