import { soon } from './soon';

soon('voice');
